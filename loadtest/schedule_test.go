package loadtest

import (
	"testing"
	"time"
)

func TestScheduleIntendedTimes(t *testing.T) {
	tests := []struct {
		rate float64
		i    int64
		want time.Duration
	}{
		{1000, 0, 0}, {1000, 1, time.Millisecond}, {1000, 123456, 123456 * time.Millisecond},
		{200, 7, 35 * time.Millisecond}, {3, 1, 333333333}, {3, 3, time.Second}, {0.5, 3, 6 * time.Second},
		{1e6, 1_000_000_007, 1_000_000_007 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := (schedule{rate: tt.rate}).at(tt.i); got != tt.want {
			t.Errorf("rate %v: at(%d) = %v; want %v", tt.rate, tt.i, got, tt.want)
		}
	}
}

func TestScheduleCountBefore(t *testing.T) {
	for _, rate := range []float64{1, 3, 7.5, 200, 1000, 33333} {
		s := schedule{rate: rate}
		for _, d := range []time.Duration{0, 1, time.Millisecond, 100 * time.Millisecond, time.Second, 1234567891} {
			n := s.countBefore(d)
			if n > 0 && s.at(n-1) >= d {
				t.Errorf("rate %v: countBefore(%v) = %d but request %d is intended at %v", rate, d, n, n-1, s.at(n-1))
			}
			if s.at(n) < d {
				t.Errorf("rate %v: countBefore(%v) = %d but request %d is intended at %v, before it", rate, d, n, n, s.at(n))
			}
		}
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want plan
	}{
		{"open by duration", Config{Rate: 100, Warmup: 100 * time.Millisecond, Duration: time.Second, Grace: time.Second},
			plan{measureStart: 100 * time.Millisecond, measureEnd: 1100 * time.Millisecond, hardDeadline: 2100 * time.Millisecond, warm: 10, total: 110}},
		{"open by count", Config{Rate: 100, Requests: 5, Grace: time.Second},
			plan{measureEnd: 50 * time.Millisecond, hardDeadline: 1050 * time.Millisecond, total: 5}},
		{"open by count within duration", Config{Rate: 100, Requests: 500, Duration: time.Second, Grace: time.Second},
			plan{measureEnd: time.Second, hardDeadline: 2 * time.Second, total: 100}},
		{"closed", Config{Warmup: time.Second, Duration: 2 * time.Second, Grace: 3 * time.Second},
			plan{measureStart: time.Second, measureEnd: 3 * time.Second, hardDeadline: 6 * time.Second}},
	}
	for _, tt := range tests {
		if got := newPlan(&tt.cfg); got != tt.want {
			t.Errorf("%s: got %+v; want %+v", tt.name, got, tt.want)
		}
	}
}
