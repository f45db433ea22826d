package resolver

import (
	"errors"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

func TestWebhookVerify(t *testing.T) {
	const secret = "s3cret"
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	alias := fakemlflow.Object{{Key: "name", Value: "churn-gbm"}, {Key: "alias", Value: "champion"}, {Key: "version", Value: "2"}}
	fresh := func() fakemlflow.Delivery {
		return fakemlflow.NewDelivery(secret, "model_version_alias", "created", alias, now.Add(-10*time.Second))
	}

	r := NewWebhookReceiver(WebhookConfig{Secret: secret, Now: clock})
	d := fresh()
	ev, err := r.Verify(d.ID, d.Timestamp, d.Signature, d.Body)
	if err != nil {
		t.Fatalf("valid delivery: %v", err)
	}
	if ev.Name != "churn-gbm" || ev.Alias != "champion" || ev.Version != "2" || !ev.Relevant() {
		t.Errorf("event %+v", ev)
	}

	tampered := fresh()
	tampered.Body = append([]byte(nil), tampered.Body...)
	tampered.Body[len(tampered.Body)-3] ^= 1
	stale := fakemlflow.NewDelivery(secret, "model_version_alias", "created", alias, now.Add(-6*time.Minute))
	future := fakemlflow.NewDelivery(secret, "model_version_alias", "created", alias, now.Add(6*time.Minute))
	other := fakemlflow.NewDelivery("not-the-secret", "model_version_alias", "created", alias, now)
	unsigned := fakemlflow.NewDelivery("", "model_version_alias", "created", alias, now)
	tests := []struct {
		name        string
		id, ts, sig string
		body        []byte
		want        error
	}{
		{"replayed delivery id", d.ID, d.Timestamp, d.Signature, d.Body, ErrWebhookReplay},
		{"tampered body", tampered.ID, tampered.Timestamp, tampered.Signature, tampered.Body, ErrWebhookUnauthorized},
		{"signed with another secret", other.ID, other.Timestamp, other.Signature, other.Body, ErrWebhookUnauthorized},
		{"missing signature", unsigned.ID, unsigned.Timestamp, "", unsigned.Body, ErrWebhookUnauthorized},
		{"stale timestamp", stale.ID, stale.Timestamp, stale.Signature, stale.Body, ErrWebhookUnauthorized},
		{"timestamp from the future", future.ID, future.Timestamp, future.Signature, future.Body, ErrWebhookUnauthorized},
		{"timestamp changed after signing", d.ID + "x", "1", d.Signature, d.Body, ErrWebhookUnauthorized},
		{"malformed signature", d.ID + "y", d.Timestamp, "v2,abc", d.Body, ErrWebhookUnauthorized},
		{"missing delivery id", "", d.Timestamp, d.Signature, d.Body, ErrWebhookUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Verify(tt.id, tt.ts, tt.sig, tt.body); !errors.Is(err, tt.want) {
				t.Errorf("err = %v; want %v", err, tt.want)
			}
		})
	}

	// A forged delivery must not burn the id of a genuine one.
	genuine := fresh()
	if _, err := r.Verify(genuine.ID, genuine.Timestamp, "v1,AAAA", genuine.Body); !errors.Is(err, ErrWebhookUnauthorized) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := r.Verify(genuine.ID, genuine.Timestamp, genuine.Signature, genuine.Body); err != nil {
		t.Errorf("genuine delivery after a forgery with its id: %v", err)
	}
}

func TestWebhookDisabledWithoutSecret(t *testing.T) {
	d := fakemlflow.NewDelivery("", "model_version_alias", "created", fakemlflow.Object{{Key: "name", Value: "churn-gbm"}}, time.Now())
	off := NewWebhookReceiver(WebhookConfig{})
	if off.Enabled() {
		t.Fatal("enabled without a secret")
	}
	if _, err := off.Verify(d.ID, d.Timestamp, "", d.Body); !errors.Is(err, ErrWebhookDisabled) {
		t.Errorf("err = %v; want ErrWebhookDisabled", err)
	}
	open := NewWebhookReceiver(WebhookConfig{AllowUnsigned: true})
	if _, err := open.Verify(d.ID, d.Timestamp, "", d.Body); err != nil {
		t.Errorf("unsigned delivery explicitly allowed: %v", err)
	}
	if _, err := open.Verify(d.ID, d.Timestamp, "", d.Body); !errors.Is(err, ErrWebhookReplay) {
		t.Errorf("replay with unsigned deliveries allowed: %v; want ErrWebhookReplay", err)
	}
	if _, err := open.Verify("x", d.Timestamp, "", []byte("{not json")); !errors.Is(err, ErrWebhookPayload) {
		t.Errorf("malformed payload: %v; want ErrWebhookPayload", err)
	}
}
