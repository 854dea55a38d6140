// Package migrations holds the schema as goose migrations, embedded in the binary.
package migrations

import "embed"

// FS is every migration file, in goose's numbered order.
//
//go:embed *.sql
var FS embed.FS
