package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// watcher streams the next events of an exchange to a developer, without
// the broker's management plugin: a temporary queue per request.
type watcher struct {
	url, exchange string
}

// watched is one message as a JSON line.
type watched struct {
	RoutingKey string          `json:"routing_key"`
	Type       string          `json:"type,omitempty"`
	MessageID  string          `json:"message_id,omitempty"`
	Body       json.RawMessage `json:"body"`
}

// maxWatch bounds n and the wait, so a forgotten curl leaves nothing behind for long.
const (
	maxWatch     = 1000
	maxWatchWait = 10 * time.Minute
)

// serve is GET /events/usersvc?n=10&wait=60: the next n messages (default
// 10) of the exchange as JSON lines, or fewer when wait seconds pass.
func (wa watcher) serve(w http.ResponseWriter, r *http.Request) {
	if wa.url == "" {
		problem(w, 503, "RABBITMQ_URL is unset")
		return
	}
	n, err1 := boundedInt(r.URL.Query().Get("n"), 10, maxWatch)
	wait, err2 := boundedInt(r.URL.Query().Get("wait"), 60, int(maxWatchWait/time.Second))
	if err1 != nil || err2 != nil {
		problem(w, 400, "n and wait are positive integers")
		return
	}
	conn, err := amqp091.DialConfig(wa.url, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		problem(w, 503, "broker: "+err.Error())
		return
	}
	defer conn.Close()
	deliveries, err := wa.bind(conn)
	if err != nil {
		problem(w, 503, "broker: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	timeout := time.After(time.Duration(wait) * time.Second)
	for sent := 0; sent < n; sent++ {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			body := json.RawMessage(d.Body)
			if !json.Valid(body) {
				body, _ = json.Marshal(string(d.Body))
			}
			_ = enc.Encode(watched{RoutingKey: d.RoutingKey, Type: d.Type, MessageID: d.MessageId, Body: body})
			flush()
		case <-timeout:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// bind declares an exclusive, server-named queue bound to every key of the
// exchange; it goes with the connection.
func (wa watcher) bind(conn *amqp091.Connection) (<-chan amqp091.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.ExchangeDeclare(wa.exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		return nil, err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return nil, err
	}
	if err := ch.QueueBind(q.Name, "#", wa.exchange, false, nil); err != nil {
		return nil, err
	}
	return ch.Consume(q.Name, "", true, true, false, false, nil)
}

// boundedInt parses a positive integer no greater than max; "" is def.
func boundedInt(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > max {
		return 0, strconv.ErrRange
	}
	return v, nil
}
