package authevent

import (
	"context"
	"fmt"
)

// Dispatcher routes events to the handlers registered for their normalized type.
type Dispatcher struct {
	handlers []registered
	types    map[Type]bool
}

type registered struct {
	Handler
	types map[Type]bool
}

// NewDispatcher checks the handlers modules contributed.
func NewDispatcher(handlers []Handler) (*Dispatcher, error) {
	d := &Dispatcher{types: map[Type]bool{}}
	for _, h := range handlers {
		if h.Handle == nil || len(h.Types) == 0 {
			return nil, fmt.Errorf("authevent: handler %q needs Types and Handle", h.Name)
		}
		r := registered{Handler: h, types: map[Type]bool{}}
		for _, t := range h.Types {
			nt := NormalizeType(t)
			if nt == "" {
				return nil, fmt.Errorf("authevent: handler %q has an empty type", h.Name)
			}
			r.types[nt] = true
			d.types[nt] = true
		}
		d.handlers = append(d.handlers, r)
	}
	return d, nil
}

// Handles reports whether some handler wants events of type t.
func (d *Dispatcher) Handles(t Type) bool { return d.types[t] }

// Apply gives every handler the events of its types, in arrival order: one
// HandleBatch call when it has one, else Handle event by event. It stops at
// the first error.
func (d *Dispatcher) Apply(ctx context.Context, es []Event) error {
	for _, h := range d.handlers {
		mine := es
		if len(h.types) < len(d.types) || !allOf(es, h.types) {
			mine = make([]Event, 0, len(es))
			for _, e := range es {
				if h.types[e.Type] {
					mine = append(mine, e)
				}
			}
		}
		if len(mine) == 0 {
			continue
		}
		if h.HandleBatch != nil && len(mine) > 1 {
			if err := h.HandleBatch(ctx, mine); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			continue
		}
		for _, e := range mine {
			if err := h.Handle(ctx, e); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
	}
	return nil
}

func allOf(es []Event, types map[Type]bool) bool {
	for _, e := range es {
		if !types[e.Type] {
			return false
		}
	}
	return true
}
