// Command printsql prints the SQL of the first page of a goals list, so the
// load run (scripts/bench-goals.sh) gives pgbench the very statement the service sends.
package main

import (
	"fmt"

	"usersvc/modules/goals"
)

func main() { fmt.Println(goals.ListSQL(false, false)) }
