package resolver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Webhook delivery headers, as MLflow (3.3+) sends them.
const (
	HeaderDeliveryID = "X-MLflow-Delivery-Id"
	HeaderTimestamp  = "X-MLflow-Timestamp"
	HeaderSignature  = "X-MLflow-Signature"
)

// Webhook errors. The receiver's caller maps them to HTTP statuses.
var (
	// ErrWebhookDisabled: no secret is configured and unsigned deliveries
	// are not allowed.
	ErrWebhookDisabled = errors.New("webhook receiver disabled")
	// ErrWebhookUnauthorized: the signature is missing, malformed or wrong,
	// or the timestamp is outside the accepted window.
	ErrWebhookUnauthorized = errors.New("webhook delivery not authenticated")
	// ErrWebhookReplay: a delivery with this id was already received.
	ErrWebhookReplay = errors.New("webhook delivery already received")
	// ErrWebhookPayload: the body is not an MLflow webhook payload.
	ErrWebhookPayload = errors.New("malformed webhook payload")
)

// WebhookConfig configures a WebhookReceiver. The zero value of each field
// selects its documented default.
type WebhookConfig struct {
	// Secret is the webhook's shared secret (the one given to MLflow's
	// create-webhook call). Deliveries must carry a valid
	// X-MLflow-Signature for it.
	Secret string
	// AllowUnsigned accepts deliveries without a signature when Secret is
	// empty. Off by default: without a secret the receiver is disabled.
	AllowUnsigned bool
	// MaxAge is how old (or how far in the future) X-MLflow-Timestamp may
	// be. Zero means 5 minutes, as MLflow's documentation recommends.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WebhookEvent is a verified delivery. Only Name is used, to trigger a
// re-check: the payload is never trusted as the answer.
type WebhookEvent struct {
	DeliveryID string
	Entity     string // model_version_alias, model_version, ...
	Action     string // created, deleted, ...
	Name       string // registered model name
	Alias      string // for alias events
	Version    string // as the payload says; informational only
}

// Relevant reports whether the event can change what a models:/ URI
// resolves to: alias set or deleted, or a new version (for latest and
// stages).
func (e *WebhookEvent) Relevant() bool {
	switch e.Entity + "." + e.Action {
	case "model_version_alias.created", "model_version_alias.deleted", "model_version.created":
		return true
	}
	return false
}

// WebhookReceiver verifies MLflow webhook deliveries: HMAC-SHA256 signature
// over "<delivery id>.<timestamp>.<body>" compared in constant time, a
// timestamp within MaxAge, and each delivery id accepted once. It is safe
// for concurrent use.
type WebhookReceiver struct {
	cfg WebhookConfig

	mu sync.Mutex
	// seen maps delivery ids to when they were accepted. It is a plain
	// size-bounded LRU with lazy expiry: golang-lru's expirable cache
	// starts a cleanup goroutine that v2 can never stop.
	seen *simplelru.LRU[string, time.Time]
}

// maxRemembered bounds the delivery ids kept for replay detection. An id
// counts for twice MaxAge; older replays fail the timestamp check anyway.
const maxRemembered = 100_000

// NewWebhookReceiver returns a receiver for cfg.
func NewWebhookReceiver(cfg WebhookConfig) *WebhookReceiver {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seen, _ := simplelru.NewLRU[string, time.Time](maxRemembered, nil)
	return &WebhookReceiver{cfg: cfg, seen: seen}
}

// Enabled reports whether deliveries can be accepted at all.
func (r *WebhookReceiver) Enabled() bool { return r.cfg.Secret != "" || r.cfg.AllowUnsigned }

// Verify checks a delivery and decodes its payload. id, timestamp and
// signature are the X-MLflow-Delivery-Id, X-MLflow-Timestamp and
// X-MLflow-Signature headers; body is the raw request body.
func (r *WebhookReceiver) Verify(id, timestamp, signature string, body []byte) (*WebhookEvent, error) {
	if !r.Enabled() {
		return nil, fmt.Errorf("%w: set a webhook secret (the one given to MLflow when creating the webhook), or allow unsigned deliveries explicitly", ErrWebhookDisabled)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: missing %s", ErrWebhookUnauthorized, HeaderDeliveryID)
	}
	if r.cfg.Secret != "" || timestamp != "" {
		ts, err := strconv.ParseInt(timestamp, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q is not Unix seconds", ErrWebhookUnauthorized, HeaderTimestamp, timestamp)
		}
		age := r.cfg.Now().Sub(time.Unix(ts, 0))
		if age > r.cfg.MaxAge || age < -r.cfg.MaxAge {
			return nil, fmt.Errorf("%w: %s is %s away from now (at most %s allowed)", ErrWebhookUnauthorized, HeaderTimestamp, age.Round(time.Second), r.cfg.MaxAge)
		}
	}
	if r.cfg.Secret != "" {
		if err := checkSignature(r.cfg.Secret, id, timestamp, signature, body); err != nil {
			return nil, err
		}
	}
	ev, err := parseWebhookPayload(body)
	if err != nil {
		return nil, err
	}
	ev.DeliveryID = id
	// Remember the id only once the delivery is authentic, so that forged
	// requests cannot burn ids.
	now := r.cfg.Now()
	r.mu.Lock()
	at, dup := r.seen.Peek(id)
	dup = dup && now.Sub(at) <= 2*r.cfg.MaxAge
	if !dup {
		r.seen.Add(id, now)
	}
	r.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("%w: delivery %s", ErrWebhookReplay, id)
	}
	return ev, nil
}

func checkSignature(secret, id, timestamp, signature string, body []byte) error {
	if signature == "" {
		return fmt.Errorf("%w: missing %s", ErrWebhookUnauthorized, HeaderSignature)
	}
	version, sig, ok := strings.Cut(signature, ",")
	if !ok || version != "v1" {
		return fmt.Errorf("%w: %s must be v1,<base64 HMAC-SHA256>", ErrWebhookUnauthorized, HeaderSignature)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64", ErrWebhookUnauthorized, HeaderSignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: signature does not match the configured secret", ErrWebhookUnauthorized)
	}
	return nil
}

func parseWebhookPayload(body []byte) (*WebhookEvent, error) {
	var p struct {
		Entity string `json:"entity"`
		Action string `json:"action"`
		Data   struct {
			Name    string          `json:"name"`
			Alias   string          `json:"alias"`
			Version json.RawMessage `json:"version"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebhookPayload, err)
	}
	if p.Entity == "" || p.Action == "" {
		return nil, fmt.Errorf("%w: entity and action are required", ErrWebhookPayload)
	}
	ev := &WebhookEvent{Entity: p.Entity, Action: p.Action, Name: p.Data.Name, Alias: p.Data.Alias}
	if len(p.Data.Version) > 0 {
		var s string
		if json.Unmarshal(p.Data.Version, &s) != nil {
			s = string(p.Data.Version)
		}
		ev.Version = s
	}
	return ev, nil
}
