package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The client's ledger: what every acknowledged (2xx) write says the database
// now holds. Each worker owns its users and sends one request at a time, so
// for each user the ledger is exact.
type (
	goalRow struct {
		title, description, status string
		checkIns                   map[int64]checkInRow
	}
	checkInRow struct {
		minutes int
		note    string
	}
	badgeRow struct{ name, description string }
	user     struct {
		id, token string
		goals     map[int64]*goalRow
		badges    map[int64]badgeRow
		timezone  string // "" until a PUT of the settings was acknowledged
	}
)

var (
	statuses  = []string{"not-started", "in-progress", "completed", "abandoned"}
	timezones = []string{"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Asia/Tokyo", "Pacific/Kiritimati"}
)

// maxGoals keeps each user's lists short: past it, a create becomes a delete.
const maxGoals = 15

// worker drives its users: a seeded sequence of reads and writes.
type worker struct {
	n      int
	base   string
	client *http.Client
	rec    *recorder
	rng    *rand.Rand
	users  []*user
	seq    int
}

func newWorker(n int, base string, rec *recorder, tokens func(string) string) *worker {
	w := &worker{n: n, base: base, rec: rec, rng: rand.New(rand.NewPCG(uint64(n), 9)),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	for i := range 2 {
		id := fmt.Sprintf("soak-%d-%d", n, i)
		w.users = append(w.users, &user{id: id, token: tokens(id), goals: map[int64]*goalRow{}, badges: map[int64]badgeRow{}})
	}
	return w
}

// loop runs operations until ctx ends; gate pauses it between operations.
func (w *worker) loop(ctx context.Context, gate *sync.RWMutex) {
	for _, u := range w.users {
		gate.RLock()
		w.write(ctx, u, http.MethodGet, "/users/me", nil, "") // the reference, just in time
		gate.RUnlock()
	}
	for ctx.Err() == nil {
		gate.RLock()
		w.step(ctx)
		gate.RUnlock()
		time.Sleep(time.Duration(10+w.rng.IntN(20)) * time.Millisecond)
	}
}

func (w *worker) step(ctx context.Context) {
	u := w.users[w.rng.IntN(len(w.users))]
	switch r := w.rng.IntN(100); {
	case r < 40:
		w.read(ctx, u)
	case r < 52:
		if len(u.goals) >= maxGoals {
			w.deleteGoal(ctx, u)
		} else {
			w.createGoal(ctx, u)
		}
	case r < 64:
		w.updateGoal(ctx, u)
	case r < 69:
		w.deleteGoal(ctx, u)
	case r < 82:
		w.checkIn(ctx, u)
	case r < 86:
		w.deleteCheckIn(ctx, u)
	case r < 94:
		w.award(ctx, u)
	default:
		w.settings(ctx, u)
	}
}

// answer is the final response of a request.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// send makes one request and records it.
func (w *worker) send(ctx context.Context, u *user, method, path string, body any, key string) answer {
	x := exchange{method: method, path: path, phase: w.rec.current(), sent: time.Now()}
	var wrote time.Time
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { wrote = time.Now() }) }}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, w.base+path, rd)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	a := answer{}
	resp, err := w.client.Do(req)
	if err == nil {
		a.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.header = resp.StatusCode, resp.Header
	}
	a.err = err
	once.Do(func() {}) // the trace may still fire from the transport's goroutine
	x.wrote, x.status, x.header, x.err = wrote, a.status, a.header, err
	if ctx.Err() == nil { // a request cut by the end of the run is not the server's doing
		w.rec.record(x)
	}
	return a
}

// write sends a request until its outcome is known. A transport error, a
// 503 or an Idempotency-Key still in progress (409 with Retry-After) leaves
// it unknown: the same request (the same key) goes again. uncertain reports
// that an earlier attempt may have taken effect.
func (w *worker) write(ctx context.Context, u *user, method, path string, body any, key string) (a answer, uncertain bool) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		a = w.send(context.WithoutCancel(ctx), u, method, path, body, key)
		again := a.err != nil || a.status == http.StatusServiceUnavailable ||
			(a.status == http.StatusConflict && a.header.Get("Retry-After") != "")
		if !again {
			return a, uncertain
		}
		uncertain = true
		if time.Now().After(deadline) {
			w.rec.violate("write never answered", "%s %s: last %d %v", method, path, a.status, a.err)
			return a, true
		}
		pause := 100 * time.Millisecond
		if s, err := strconv.Atoi(a.header.Get("Retry-After")); err == nil {
			pause = min(time.Duration(s)*time.Second, time.Second)
		}
		time.Sleep(pause)
	}
}

func (w *worker) key() string {
	w.seq++
	return fmt.Sprintf("w%d-%d", w.n, w.seq)
}

func (w *worker) unexpected(what string, a answer) {
	if a.err == nil && a.status != http.StatusServiceUnavailable { // those are retried; never-answered is recorded
		w.rec.violate("unexpected answer", "%s: %d %.200s", what, a.status, a.body)
	}
}

func (w *worker) createGoal(ctx context.Context, u *user) {
	k := w.key()
	g := &goalRow{title: "goal " + k, description: "about " + k, status: statuses[w.rng.IntN(2)], checkIns: map[int64]checkInRow{}}
	a, _ := w.write(ctx, u, http.MethodPost, "/users/"+u.id+"/goals",
		map[string]any{"title": g.title, "description": g.description, "status": g.status}, k)
	var got struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &got) != nil || got.Title != g.title {
		w.unexpected("create goal", a)
		return
	}
	u.goals[got.ID] = g
}

// pickGoal returns one of u's goals for which ok holds, or 0.
func (w *worker) pickGoal(u *user, ok func(*goalRow) bool) int64 {
	var ids []int64
	for _, id := range slices.Sorted(maps.Keys(u.goals)) {
		if ok(u.goals[id]) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0
	}
	return ids[w.rng.IntN(len(ids))]
}

func any_(*goalRow) bool { return true }

func (w *worker) updateGoal(ctx context.Context, u *user) {
	id := w.pickGoal(u, any_)
	if id == 0 {
		return
	}
	g := *u.goals[id]
	g.title = "goal " + w.key()
	g.status = statuses[w.rng.IntN(len(statuses))]
	a, _ := w.write(ctx, u, http.MethodPut, fmt.Sprintf("/users/%s/goals/%d", u.id, id),
		map[string]any{"title": g.title, "status": g.status}, "")
	if a.status != http.StatusOK {
		w.unexpected("update goal", a)
		return
	}
	*u.goals[id] = g
}

func (w *worker) deleteGoal(ctx context.Context, u *user) {
	id := w.pickGoal(u, any_)
	if id == 0 {
		return
	}
	a, uncertain := w.write(ctx, u, http.MethodDelete, fmt.Sprintf("/users/%s/goals/%d", u.id, id), nil, "")
	if a.status == http.StatusNoContent || (a.status == http.StatusNotFound && uncertain) {
		delete(u.goals, id)
		return
	}
	w.unexpected("delete goal", a)
}

func (w *worker) checkIn(ctx context.Context, u *user) {
	id := w.pickGoal(u, func(g *goalRow) bool { return g.status == "in-progress" || g.status == "not-started" })
	if id == 0 {
		return
	}
	k := w.key()
	c := checkInRow{minutes: 1 + w.rng.IntN(120), note: "note " + k}
	a, _ := w.write(ctx, u, http.MethodPost, fmt.Sprintf("/users/%s/goals/%d/check-ins", u.id, id),
		map[string]any{"minutes": c.minutes, "note": c.note}, k)
	var got struct {
		ID int64 `json:"id"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &got) != nil {
		w.unexpected("check in", a)
		return
	}
	g := u.goals[id]
	g.checkIns[got.ID] = c
	g.status = "in-progress"
}

func (w *worker) deleteCheckIn(ctx context.Context, u *user) {
	id := w.pickGoal(u, func(g *goalRow) bool { return len(g.checkIns) > 0 })
	if id == 0 {
		return
	}
	g := u.goals[id]
	ids := slices.Sorted(maps.Keys(g.checkIns))
	cid := ids[w.rng.IntN(len(ids))]
	a, uncertain := w.write(ctx, u, http.MethodDelete, fmt.Sprintf("/users/%s/goals/%d/check-ins/%d", u.id, id, cid), nil, "")
	if a.status == http.StatusNoContent || (a.status == http.StatusNotFound && uncertain) {
		delete(g.checkIns, cid)
		return
	}
	w.unexpected("delete check-in", a)
}

func (w *worker) award(ctx context.Context, u *user) {
	k := w.key()
	b := badgeRow{name: "badge " + k, description: "for " + k}
	a, _ := w.write(ctx, u, http.MethodPost, "/users/"+u.id+"/badges", map[string]any{"name": b.name, "description": b.description}, k)
	var got struct {
		ID int64 `json:"id"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &got) != nil {
		w.unexpected("award badge", a)
		return
	}
	u.badges[got.ID] = b
}

func (w *worker) settings(ctx context.Context, u *user) {
	tz := timezones[w.rng.IntN(len(timezones))]
	a, _ := w.write(ctx, u, http.MethodPut, "/users/"+u.id+"/settings", map[string]any{"timezone": tz}, "")
	if a.status != http.StatusOK {
		w.unexpected("settings", a)
		return
	}
	u.timezone = tz
}

// read sends one read; reads are not retried. A goal read must show the
// last acknowledged write (each user's requests are sequential).
func (w *worker) read(ctx context.Context, u *user) {
	switch w.rng.IntN(5) {
	case 0:
		id := w.pickGoal(u, any_)
		if id == 0 {
			return
		}
		a := w.send(ctx, u, http.MethodGet, fmt.Sprintf("/users/%s/goals/%d", u.id, id), nil, "")
		var got struct{ Title, Status string }
		if a.status == http.StatusOK && json.Unmarshal(a.body, &got) == nil {
			if g := u.goals[id]; got.Title != g.title || got.Status != g.status {
				w.rec.violate("stale read", "goal %d of %s: read %q/%s, last write %q/%s", id, u.id, got.Title, got.Status, g.title, g.status)
			}
		} else if a.err == nil && a.status != http.StatusServiceUnavailable {
			w.unexpected("read goal", a)
		}
	case 1:
		w.readOK(ctx, u, "/users/"+u.id+"/goals?limit=100")
	case 2:
		w.readOK(ctx, u, "/users/me")
	case 3:
		w.readOK(ctx, u, "/users/"+u.id+"/badges?limit=100")
	default:
		w.readOK(ctx, u, "/users/"+u.id+"/activity?limit=20")
	}
}

func (w *worker) readOK(ctx context.Context, u *user, path string) {
	if a := w.send(ctx, u, http.MethodGet, path, nil, ""); a.err == nil && a.status != http.StatusOK && a.status != http.StatusServiceUnavailable {
		w.unexpected("GET "+path, a)
	}
}
