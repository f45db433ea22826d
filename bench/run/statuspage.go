package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// statusPollInterval is how often the status page reads its feed.
const statusPollInterval = 2 * time.Second

// statusPoller does what an open status page does to mlgate: it reads GET
// /admin/status?since=<the newest event seen> every statusPollInterval
// until stopped.
type statusPoller struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu            sync.Mutex
	polls, failed int
	since         int64
}

// startStatusPoller reads base's status feed once, as a page does when it
// opens, then keeps reading it on the page's interval until stopped.
func startStatusPoller(ctx context.Context, base string) *statusPoller {
	ctx, cancel := context.WithCancel(ctx)
	s := &statusPoller{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	s.poll(ctx, client, base)
	go func() {
		defer close(s.done)
		t := time.NewTicker(statusPollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.poll(ctx, client, base)
		}
	}()
	return s
}

func (s *statusPoller) poll(ctx context.Context, client *http.Client, base string) {
	s.mu.Lock()
	url := base + "/admin/status?since=" + strconv.FormatInt(s.since, 10)
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-read: not a failure of mlgate
	}
	ok := err == nil && resp.StatusCode == http.StatusOK
	var next int64
	if err == nil {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		ok = ok && rerr == nil
		next = eventsNext(body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if !ok {
		s.failed++
		return
	}
	s.since = max(s.since, next)
}

// eventsNext reads "events_next" from a status feed, as the page's script
// does; 0 when the body is not one.
func eventsNext(body []byte) int64 {
	var feed struct {
		EventsNext int64 `json:"events_next"`
	}
	if json.Unmarshal(body, &feed) != nil {
		return 0
	}
	return feed.EventsNext
}

// stop stops polling and returns how many reads were made and how many
// failed.
func (s *statusPoller) stop() (polls, failed int) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls, s.failed
}
