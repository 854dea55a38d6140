package badges

import (
	"strconv"
	"time"
	"usersvc/platform/errs"

	"usersvc/platform/jsonw"
)

// Field rules of CONTRACT §3 "Badge". Lengths count Unicode code points after trimming.
const (
	MaxName        = 100
	MaxDescription = 1000
	MaxIconURL     = 2048
	// ClockSkew is how far in the future a date_achieved may lie.
	ClockSkew = 5 * time.Minute
)

// EarliestDate bounds date_achieved from below: an earlier instant has no
// four-digit RFC 3339 year to be shown with.
var EarliestDate = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)

var (
	// ErrBadgeExists: the user already has a badge of that name, as lower() compares names.
	ErrBadgeExists = errs.New(errs.Conflict, "the user already has a badge with this name (names compare case-insensitively)")
	// ErrBadgeNotFound: no such badge for this user (another user's badge included).
	ErrBadgeNotFound = errs.New(errs.NotFound, "no such badge")
)

// Badge is one badge a user holds.
type Badge struct {
	ID           int64
	UserID       string
	Name         string
	Description  string
	IconURL      *string
	DateAchieved time.Time
	CreatedAt    time.Time
}

// NewBadge is what a client asks to award; a nil DateAchieved means now.
type NewBadge struct {
	UserID       string
	Name         string
	Description  string
	IconURL      *string
	DateAchieved *time.Time
}

// TooFarInFuture reports whether t breaks "not in the future" beyond the allowed skew.
func TooFarInFuture(t, now time.Time) bool { return t.After(now.Add(ClockSkew)) }

// AppendJSON appends the badge's representation; objects carry exactly these fields.
func (b *Badge) AppendJSON(buf []byte) []byte {
	buf = append(buf, `{"id":`...)
	buf = jsonw.Int(buf, b.ID)
	buf = append(buf, `,"auth_user_id":`...)
	buf = jsonw.String(buf, b.UserID)
	buf = append(buf, `,"name":`...)
	buf = jsonw.String(buf, b.Name)
	buf = append(buf, `,"description":`...)
	buf = jsonw.String(buf, b.Description)
	buf = append(buf, `,"icon_url":`...)
	buf = jsonw.NullableString(buf, b.IconURL)
	buf = append(buf, `,"date_achieved":`...)
	buf = jsonw.Time(buf, b.DateAchieved)
	buf = append(buf, `,"created_at":`...)
	buf = jsonw.Time(buf, b.CreatedAt)
	return append(buf, '}')
}

// Location is the badge's URL path.
func (b *Badge) Location() string {
	return "/users/" + b.UserID + "/badges/" + strconv.FormatInt(b.ID, 10)
}
