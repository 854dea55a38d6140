// Package cluster holds the multi-replica proof (cluster_test.go): three
// `usersvc serve` and two `usersvc consume` processes, the real binary, on
// one private PostgreSQL and RabbitMQ, behind a round-robin balancer that
// follows /ready as a Kubernetes Service follows readiness probes. `make test`
// runs a short round; `make cluster` a longer one that prints its figures.
// See docs/deploy.md.
package cluster
