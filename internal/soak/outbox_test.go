package soak

import (
	"encoding/json"
	"fmt"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// outboxQueue plays a consumer of usersvc.events: bound to every key before
// the first event, it receives what the outbox relay publishes (and gives the
// relay's mandatory publishes a queue to land in).
const (
	outboxExchange = "usersvc.events"
	outboxQueue    = "soak.usersvc-events"
)

// published is what the relay delivered: how many times each event id
// arrived, and the ids of the goals, check-ins and badges whose creation was announced.
type published struct {
	deliveries, distinct    int
	goals, checkIns, badges map[int64]bool
}

// drainOutbox takes every message from outboxQueue, until none comes for a second.
func drainOutbox(url string) (published, error) {
	out := published{goals: map[int64]bool{}, checkIns: map[int64]bool{}, badges: map[int64]bool{}}
	conn, err := amqp091.Dial(url)
	if err != nil {
		return out, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return out, err
	}
	msgs, err := ch.Consume(outboxQueue, "", true, false, false, false, nil)
	if err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return out, fmt.Errorf("the channel closed while draining %s", outboxQueue)
			}
			var e struct {
				EventID   string `json:"event_id"`
				EventType string `json:"event_type"`
				Data      struct {
					Goal    struct{ ID int64 } `json:"goal"`
					CheckIn struct{ ID int64 } `json:"check_in"`
					Badge   struct{ ID int64 } `json:"badge"`
				} `json:"data"`
			}
			if err := json.Unmarshal(m.Body, &e); err != nil {
				return out, fmt.Errorf("an event that is not JSON: %.200s", m.Body)
			}
			out.deliveries++
			if seen[e.EventID] {
				continue
			}
			seen[e.EventID] = true
			out.distinct++
			switch e.EventType {
			case "GoalCreated":
				out.goals[e.Data.Goal.ID] = true
			case "GoalCheckedIn":
				out.checkIns[e.Data.CheckIn.ID] = true
			case "BadgeAwarded":
				out.badges[e.Data.Badge.ID] = true
			}
		case <-time.After(time.Second):
			return out, nil
		}
	}
}

// verifyOutbox: every acknowledged creation still in the ledger was announced.
func verifyOutbox(p published, workers []*worker, rec *recorder) {
	for _, w := range workers {
		for _, u := range w.users {
			for id, g := range u.goals {
				if !p.goals[id] {
					rec.violate("lost", "no GoalCreated for goal %d of %s", id, u.id)
				}
				for cid := range g.checkIns {
					if !p.checkIns[cid] {
						rec.violate("lost", "no GoalCheckedIn for check-in %d of %s", cid, u.id)
					}
				}
			}
			for id := range u.badges {
				if !p.badges[id] {
					rec.violate("lost", "no BadgeAwarded for badge %d of %s", id, u.id)
				}
			}
		}
	}
}
