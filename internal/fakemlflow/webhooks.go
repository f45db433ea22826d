package fakemlflow

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Webhook events the fake delivers, as MLflow names them (entity.action).
const (
	EventAliasCreated   = "model_version_alias.created"
	EventAliasDeleted   = "model_version_alias.deleted"
	EventVersionCreated = "model_version.created"
)

// Webhook delivery headers, as MLflow sends them.
const (
	HeaderDeliveryID = "X-MLflow-Delivery-Id"
	HeaderTimestamp  = "X-MLflow-Timestamp"
	HeaderSignature  = "X-MLflow-Signature"
)

type webhook struct {
	url    string
	secret string
	events []string
}

// Delivery is one webhook delivery: what MLflow sends, and, for deliveries
// the server made, how the receiver answered.
type Delivery struct {
	// URL is where the delivery is (or was) sent.
	URL string
	// ID is the X-MLflow-Delivery-Id (a random UUID4).
	ID string
	// Timestamp is the X-MLflow-Timestamp (Unix seconds).
	Timestamp string
	// Signature is the X-MLflow-Signature, "v1,<base64 HMAC-SHA256>"; empty
	// when the webhook has no secret.
	Signature string
	// Body is the JSON payload.
	Body []byte
	// StatusCode is the receiver's status, 0 if the request failed; Err is
	// that failure. Both are unset for deliveries built with NewDelivery.
	StatusCode int
	Err        error
}

// AddWebhook subscribes url to events (EventAliasCreated, EventAliasDeleted,
// EventVersionCreated; none means all three). Moving or deleting an alias
// and adding a version deliver to it synchronously, in the order webhooks
// were added, before the triggering call returns. Unlike MLflow, the fake
// neither caches webhook lists nor retries.
func (s *Server) AddWebhook(url, secret string, events ...string) {
	if len(events) == 0 {
		events = []string{EventAliasCreated, EventAliasDeleted, EventVersionCreated}
	}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, webhook{url: url, secret: secret, events: events})
	s.mu.Unlock()
}

// Deliveries returns the deliveries made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// emit delivers an event to every subscribed webhook. It must be called
// without s.mu held.
func (s *Server) emit(entity, action string, data Object) {
	event := entity + "." + action
	s.mu.Lock()
	var hooks []webhook
	for _, h := range s.webhooks {
		if slices.Contains(h.events, event) {
			hooks = append(hooks, h)
		}
	}
	s.mu.Unlock()
	for _, h := range hooks {
		d := NewDelivery(h.secret, entity, action, data, time.Now())
		d.URL = h.url
		d.StatusCode, d.Err = s.send(d)
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
	}
}

func (s *Server) send(d Delivery) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := d.Request(ctx, d.URL)
	if err != nil {
		return 0, err
	}
	resp, err := s.hookClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// NewDelivery builds the delivery MLflow would send for an event at time at:
// body {"entity", "action", "timestamp", "data"} in Python json.dumps format,
// a new delivery ID, the Unix-seconds timestamp, and the signature when
// secret is not empty. Tests use it to build deliveries by hand, including
// tampered ones.
func NewDelivery(secret, entity, action string, data Object, at time.Time) Delivery {
	body := dumpCompact(Object{{"entity", entity}, {"action", action}, {"timestamp", pythonISOTime(at)}, {"data", data}})
	d := Delivery{ID: uuid4(), Timestamp: strconv.FormatInt(at.Unix(), 10), Body: body}
	if secret != "" {
		d.Signature = Sign(secret, d.ID, d.Timestamp, body)
	}
	return d
}

// Sign returns MLflow's X-MLflow-Signature value:
// "v1," + base64(HMAC-SHA256(secret, deliveryID + "." + timestamp + "." + body)).
func Sign(secret, deliveryID, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s.%s.", deliveryID, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Request returns the POST that delivers d to url, with MLflow's headers.
func (d Delivery) Request(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderDeliveryID, d.ID)
	req.Header.Set(HeaderTimestamp, d.Timestamp)
	if d.Signature != "" {
		req.Header.Set(HeaderSignature, d.Signature)
	}
	return req, nil
}

// pythonISOTime formats t like Python's datetime.now(timezone.utc).isoformat():
// microseconds only when non-zero, and a "+00:00" offset.
func pythonISOTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05") + "+00:00"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "+00:00"
}

// uuid4 returns a random RFC 4122 version 4 UUID in its usual text form.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
