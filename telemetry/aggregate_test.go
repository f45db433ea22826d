package telemetry

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestHistogramBuckets checks the bucket rule the SDK applies: a value
// equal to a bound counts in that bound's bucket, one above every bound in
// the last; and the sum, minimum and maximum.
func TestHistogramBuckets(t *testing.T) {
	m := newRequestMetrics()
	h := m.histogram(&m.infer, attribute.NewSet(keyRoute.String("churn")))
	values := []time.Duration{
		50 * time.Microsecond,      // = first bound
		50*time.Microsecond + 1,    // just above: second bucket
		time.Millisecond,           // = a bound
		20 * time.Second,           // above every bound
		0,                          // first bucket
		250*time.Microsecond - 1,   // third bucket
		10 * time.Second,           // = last bound
		10*time.Second + 1,         // last bucket
		3 * time.Millisecond / 100, // 30µs, first bucket
	}
	for _, v := range values {
		h.record(v)
	}
	got := produceOne(t, m, inferDesc.name).(metricdata.Histogram[float64])
	if len(got.DataPoints) != 1 {
		t.Fatalf("got %d data points; want 1", len(got.DataPoints))
	}
	dp := got.DataPoints[0]
	want := make([]uint64, len(latencyBuckets)+1)
	for _, v := range values {
		i := 0
		for i < len(latencyBuckets) && v.Seconds() > latencyBuckets[i] {
			i++
		}
		want[i]++
	}
	for i := range want {
		if dp.BucketCounts[i] != want[i] {
			t.Errorf("bucket %d: got %d; want %d (all: %v)", i, dp.BucketCounts[i], want[i], dp.BucketCounts)
		}
	}
	var sum time.Duration
	for _, v := range values {
		sum += v
	}
	if dp.Count != uint64(len(values)) || dp.Sum != sum.Seconds() {
		t.Errorf("count %d, sum %v; want %d, %v", dp.Count, dp.Sum, len(values), sum.Seconds())
	}
	if lo, _ := dp.Min.Value(); lo != 0 {
		t.Errorf("min %v; want 0", lo)
	}
	if hi, _ := dp.Max.Value(); hi != 20 {
		t.Errorf("max %v; want 20", hi)
	}
}

// TestRequestMetricsConcurrent records from several goroutines while
// collecting, and checks the totals at the end (run it with -race).
func TestRequestMetricsConcurrent(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
			for i := range each {
				rec.Done(context.Background(), 200+100*((g+i)%2), "POST", time.Duration(i)*time.Microsecond, time.Microsecond)
			}
		})
	}
	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := ins.reqs.Produce(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-collected
	sum := produceOne(t, ins.reqs, requestsDesc.name).(metricdata.Sum[int64])
	var n int64
	for _, dp := range sum.DataPoints {
		n += dp.Value
	}
	if len(sum.DataPoints) != 2 || n != goroutines*each {
		t.Errorf("mlgate.requests: %d series adding up to %d; want 2 adding up to %d", len(sum.DataPoints), n, goroutines*each)
	}
	h := produceOne(t, ins.reqs, httpDurationDesc.name).(metricdata.Histogram[float64])
	var count uint64
	for _, dp := range h.DataPoints {
		count += dp.Count
	}
	if count != goroutines*each {
		t.Errorf("http.server.request.duration: %d measurements; want %d", count, goroutines*each)
	}
}

// produceOne returns the data of the metric named name.
func produceOne(t *testing.T, m *requestMetrics, name string) metricdata.Aggregation {
	t.Helper()
	sms, err := m.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range sms {
		if sm.Scope.Name != meterName {
			t.Errorf("scope %q; want %q", sm.Scope.Name, meterName)
		}
		for _, mt := range sm.Metrics {
			if mt.Name == name {
				return mt.Data
			}
		}
	}
	t.Fatalf("%s not produced", name)
	return nil
}
