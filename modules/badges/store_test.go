package badges

import "testing"

// TestQueryShapes pins the SQL each query shape sends: built once, stable,
// every value a bound parameter (the argument order of the store's calls
// depends on these placeholders).
func TestQueryShapes(t *testing.T) {
	t.Parallel()
	for _, q := range []struct{ name, got, want string }{
		{"list, first page", listFirstSQL, "SELECT b.id, b.name, b.description, b.icon_url, b.date_achieved, b.created_at " +
			"FROM auth_users u LEFT JOIN LATERAL (SELECT id, name, description, icon_url, date_achieved, created_at FROM badges " +
			"WHERE auth_user_id = u.auth_user_id ORDER BY date_achieved DESC, id DESC LIMIT $1) b ON true " +
			"WHERE u.auth_user_id = $2 ORDER BY b.date_achieved DESC, b.id DESC"},
		{"list, after a cursor", listAfterSQL, "SELECT b.id, b.name, b.description, b.icon_url, b.date_achieved, b.created_at " +
			"FROM auth_users u LEFT JOIN LATERAL (SELECT id, name, description, icon_url, date_achieved, created_at FROM badges " +
			"WHERE auth_user_id = u.auth_user_id AND (date_achieved, id) < ($1, $2) ORDER BY date_achieved DESC, id DESC LIMIT $3) b ON true " +
			"WHERE u.auth_user_id = $4 ORDER BY b.date_achieved DESC, b.id DESC"},
		{"get", getSQL, "SELECT b.id, b.name, b.description, b.icon_url, b.date_achieved, b.created_at " +
			"FROM auth_users u LEFT JOIN badges b ON b.auth_user_id = u.auth_user_id AND b.id = $1 WHERE u.auth_user_id = $2"},
		{"insert", insertSQL, "INSERT INTO badges (auth_user_id,name,description,icon_url,date_achieved) " +
			"VALUES ($1,$2,$3,$4,COALESCE($5::timestamptz, now())) RETURNING id, date_achieved, created_at"},
	} {
		if q.got != q.want {
			t.Errorf("%s:\n got %s\nwant %s", q.name, q.got, q.want)
		}
	}
}
