package resolver

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://user:pw@127.0.0.1:1", "http://redacted@127.0.0.1:1"},
		{"https://tok@mlflow:5000/prefix?x=1", "https://redacted@mlflow:5000/prefix?x=1"},
		{"http://us@er:p@ss@host/path@x", "http://redacted@host/path@x"},
		{"mlflow-artifacts://u:p@other:5000/1/x", "mlflow-artifacts://redacted@other:5000/1/x"},
		{"s3://key:secret@bucket/prefix", "s3://redacted@bucket/prefix"},
		{"user:pw@host:5000", "redacted@host:5000"},
		{"http://user:p w@host", "http://redacted@host"},
		{"http://mlflow:5000", "http://mlflow:5000"},
		{"models:/churn@champion", "models:/churn@champion"},
		{"mlflow-artifacts:/1/models/m@1", "mlflow-artifacts:/1/models/m@1"},
		{"sqlite:////srv/a@b/mlflow.db", "sqlite:////srv/a@b/mlflow.db"},
		{"/srv/a@b", "/srv/a@b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestNewRedactsTrackingURI: a tracking or registry URI with a password is
// refused without echoing the password. (Before: the error quoted the URI
// whole.)
func TestNewRedactsTrackingURI(t *testing.T) {
	for _, cfg := range []Config{
		{TrackingURI: "http://user:pw@127.0.0.1:1"},
		{TrackingURI: "ftp://user:pw@127.0.0.1:1"},
		{TrackingURI: "http://127.0.0.1:1", RegistryURI: "http://user:pw@127.0.0.1:2"},
		{TrackingURI: "http://127.0.0.1:1", AllowedHosts: []string{"http://user:pw@other"}},
		{TrackingURI: "http://127.0.0.1:1", AllowedRoots: []string{"file://user:pw@x/y"}},
	} {
		cfg.CacheDir = t.TempDir()
		r, err := New(cfg)
		if err == nil {
			r.Close()
			t.Fatalf("%+v: got no error", cfg)
		}
		checkIs(t, err, ErrInvalid)
		if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "user:") {
			t.Errorf("error %q shows the user information", err)
		}
	}
}
