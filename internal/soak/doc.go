// Package soak holds `make soak` (TestSoak): the real usersvc binaries under
// mixed load while PostgreSQL, RabbitMQ, `consume` and `serve` are stopped and
// restarted at fixed points, then every acknowledged write and every
// confirmed event checked in the database. docs/reliability.md tells what it
// proves and how to read its table. All of its code is test code.
package soak
