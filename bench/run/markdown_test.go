package main

import (
	"errors"
	"strings"
	"testing"
)

func TestReplaceGenerated(t *testing.T) {
	const gen = "## Results\n\nnew numbers\n"
	intro := "# mlgate benchmarks\n\nHand-written.\n\n"
	tests := []struct {
		name     string
		existing []byte
		want     string
		wantErr  error
	}{
		{
			name: "no file yet",
			want: defaultIntro + "\n" + generatedMarker + "\n\n" + gen,
		},
		{
			name:     "old section replaced",
			existing: []byte(intro + generatedMarker + "\n\n## Results\n\nold numbers\n"),
			want:     intro + generatedMarker + "\n\n" + gen,
		},
		{
			name:     "marker is the last line, without newline",
			existing: []byte(intro + generatedMarker),
			want:     intro + generatedMarker + "\n\n" + gen,
		},
		{
			name:     "marker with surrounding spaces",
			existing: []byte(intro + "  " + generatedMarker + " \n old\n"),
			want:     intro + "  " + generatedMarker + " \n\n" + gen,
		},
		{
			name:     "first marker wins",
			existing: []byte(intro + generatedMarker + "\nold\n" + generatedMarker + "\nolder\n"),
			want:     intro + generatedMarker + "\n\n" + gen,
		},
		{
			name:     "no marker keeps the file",
			existing: []byte(intro + "## Results\n\nold numbers\n"),
			wantErr:  errNoMarker,
		},
		{
			name:     "marker inside a line does not count",
			existing: []byte(intro + "see " + generatedMarker + "\n"),
			wantErr:  errNoMarker,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceGenerated(tt.existing, gen)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v; want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestReplaceGeneratedTwice checks that regenerating is stable: the
// second run replaces the first run's section and nothing else.
func TestReplaceGeneratedTwice(t *testing.T) {
	first, err := replaceGenerated(nil, "one\n")
	if err != nil {
		t.Fatal(err)
	}
	second, err := replaceGenerated(first, "two\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(first), "one\n", "two\n", 1); string(second) != want {
		t.Errorf("got:\n%s\nwant:\n%s", second, want)
	}
}

func TestRenderMarkdown(t *testing.T) {
	golden(t, "benchmarks.golden.md", renderMarkdown(cannedSuite(), "bench/results", chartFile))
}

func TestRenderMarkdownWithoutMlgate(t *testing.T) {
	s := cannedSuite()
	s.Quick = true
	s.Servers = s.Servers[:1]
	var runs []RunResult
	for _, r := range s.Runs {
		if r.Server != serverMlgate {
			runs = append(runs, r)
		}
	}
	s.Runs = runs
	s.GoTest = &GoTest{Command: "go test", Output: "gotest.txt", Failed: "exit status 1", Summary: "BenchmarkRun-2 100 1173 ns/op", NoBenchstat: "go install: no network"}
	s.Problems = []string{"naive exited (signal: terminated) before the end of its phase."}
	md := renderMarkdown(s, "../results", "")
	for _, want := range []string{
		"**Problems in this run**: the numbers they name are missing or wrong.\n\n- naive exited (signal: terminated) before the end of its phase.\n",
		"**Smoke run (`-quick`)**",
		"| mlgate / naive throughput | n/a |",
		"mlgate did not run in this suite",
		"**go test failed**: exit status 1",
		"benchstat could not be installed (go install: no network)",
		"[report](../results/reports/closed-c8-r1-naive.html)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "![") {
		t.Errorf("markdown embeds a chart; want none without one")
	}
	if strings.Contains(md, "| mlgate |") {
		t.Errorf("markdown has an mlgate row; want none")
	}
	for _, section := range []string{"### Dynamic batching", "### Workers and intra-op threads"} {
		if strings.Contains(md, section) {
			t.Errorf("markdown has %q without mlgate runs; want none", section)
		}
	}
}
