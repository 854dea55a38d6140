// Command printsql prints the SQL of the first page of an activity feed, so
// the load run (scripts/bench-tracker-reads.sh) gives pgbench the very
// statement the service sends.
package main

import (
	"fmt"

	"usersvc/modules/activity"
)

func main() { fmt.Println(activity.FeedSQL(false, false)) }
