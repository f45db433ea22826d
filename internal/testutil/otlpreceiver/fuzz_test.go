package otlpreceiver

import (
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzConvert feeds arbitrary export requests to the decoder: it must
// never panic, and the spans it accepts carry attribute maps.
func FuzzConvert(f *testing.F) {
	good, err := proto.Marshal(exportRequest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return
		}
		spans, err := convert(&req)
		if err != nil {
			return
		}
		for _, s := range spans {
			if s.Attributes == nil || s.Resource == nil {
				t.Errorf("span %q: nil attribute maps", s.Name)
			}
		}
		_ = describe(spans)
	})
}
