package pgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PlanNode is a node of EXPLAIN (FORMAT JSON)'s plan tree.
type PlanNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []PlanNode `json:"Plans"`
}

// GenericPlan returns the plan the server makes for stmt (with $n parameters,
// as an application sends it) whatever the parameters' values are: the plan a
// prepared statement settles on after a few runs.
func GenericPlan(t testing.TB, db *pgxpool.Pool, stmt string) PlanNode {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Acquire(ctx)
	if err != nil {
		t.Fatalf("pgtest: plan: %v", err)
	}
	defer conn.Release()
	simple := pgx.QueryExecModeSimpleProtocol // the statement's $n are its own, not this call's
	run := func(sql string) {
		if _, err := conn.Exec(ctx, sql, simple); err != nil {
			t.Fatalf("pgtest: plan: %s: %v", sql, err)
		}
	}
	run("SET plan_cache_mode = force_generic_plan")
	defer run("RESET plan_cache_mode")
	run("PREPARE pgtest_plan AS " + stmt)
	defer run("DEALLOCATE pgtest_plan")
	var params int
	if err := conn.QueryRow(ctx, "SELECT coalesce(cardinality(parameter_types), 0) FROM pg_prepared_statements WHERE name = 'pgtest_plan'", simple).Scan(&params); err != nil {
		t.Fatalf("pgtest: plan: parameters of %q: %v", stmt, err)
	}
	explain := "EXPLAIN (FORMAT JSON) EXECUTE pgtest_plan"
	if params > 0 {
		explain += "(" + strings.Repeat("NULL, ", params-1) + "NULL)"
	}
	var out []byte
	if err := conn.QueryRow(ctx, explain, simple).Scan(&out); err != nil {
		t.Fatalf("pgtest: plan of %q: %v", stmt, err)
	}
	var plans []struct{ Plan PlanNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("pgtest: plan of %q: %v in %s", stmt, err, out)
	}
	return plans[0].Plan
}

// Scans returns the nodes of the tree that read relation.
func (n PlanNode) Scans(relation string) []PlanNode {
	var found []PlanNode
	if n.Relation == relation {
		found = append(found, n)
	}
	for _, c := range n.Plans {
		found = append(found, c.Scans(relation)...)
	}
	return found
}

// PathsTo returns, for each read of relation, the nodes from the root down to it.
func (n PlanNode) PathsTo(relation string) [][]PlanNode {
	var paths [][]PlanNode
	if n.Relation == relation {
		paths = append(paths, []PlanNode{n})
	}
	for _, c := range n.Plans {
		for _, p := range c.PathsTo(relation) {
			paths = append(paths, append([]PlanNode{n}, p...))
		}
	}
	return paths
}

// String draws the tree on one line, for failure messages.
func (n PlanNode) String() string {
	s := n.NodeType
	if n.Relation != "" {
		s += " on " + n.Relation
	}
	if n.Index != "" {
		s += " using " + n.Index
	}
	if len(n.Plans) > 0 {
		parts := make([]string, len(n.Plans))
		for i, c := range n.Plans {
			parts[i] = c.String()
		}
		s += fmt.Sprintf(" (%s)", strings.Join(parts, ", "))
	}
	return s
}

// Plannable reports whether stmt is a query EXPLAIN can plan (not BEGIN, SET, a ping…).
func Plannable(stmt string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(stmt), " ")
	switch strings.ToUpper(first) {
	case "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES":
		return true
	}
	return false
}
