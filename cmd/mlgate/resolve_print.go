package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mlgate/mlgate/resolver"
)

// Bounds of the text output; --json prints everything in full.
const (
	// maxListed is how many params, metrics, tags or dataset inputs are
	// printed.
	maxListed = 50
	// maxValueRunes is how much of one value is printed (MLflow allows
	// 6000 characters in a param and 8000 in a tag).
	maxValueRunes = 200
	// maxCommandBytes is the longest reproduce command printed.
	maxCommandBytes = 4096
)

// printResolution writes out as text: the version, then its lineage and the
// commands that reproduce it.
func printResolution(w io.Writer, out *resolveOutput) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	res := out.Resolution
	row("uri", res.URI.String())
	row("name", res.Name)
	row("version", res.Version)
	row("aliases", strings.Join(res.Aliases, ", "))
	row("stage", res.Stage)
	row("status", res.Status)
	run := res.RunID
	if res.Run != resolver.LinkFound && res.Run != resolver.LinkNone {
		run += " (run " + string(res.Run) + ")"
	}
	row("run_id", run)
	row("git_commit", clip(res.GitCommit))
	row("data_version", clip(res.DataVersion))
	row("model_id", res.ModelID)
	row("artifact_uri", resolver.Redact(res.ArtifactURI))
	if res.CreationTimestamp > 0 {
		row("created", time.UnixMilli(res.CreationTimestamp).UTC().Format(time.RFC3339))
	}
	row("flavors", strings.Join(out.Flavors, ", "))
	row("signature", out.Signature)
	if out.Lineage != nil {
		fmt.Fprintln(tw)
		printLineage(tw, out.Lineage)
		printReproduce(tw, out.Reproduce)
	}
	tw.Flush()
}

// runIDFrom says where a run ID came from.
var runIDFrom = map[string]string{
	resolver.RunIDFromModelVersion: "the version's run_id",
	resolver.RunIDFromLoggedModel:  "the logged model's source_run_id",
	resolver.RunIDFromMLmodel:      "the MLmodel's run_id",
}

// printLineage writes the run, code, data, params, metrics and tags
// sections. An empty link is shown with the phrase from l.Absent that
// names it; absent phrases that belong to no field are listed under run.
func printLineage(w io.Writer, l *resolver.Lineage) {
	used := map[string]bool{}
	orAbsent := func(v, prefix string) string {
		if v != "" {
			return clip(v)
		}
		for _, a := range l.Absent {
			if strings.HasPrefix(a, prefix) {
				used[a] = true
				return a
			}
		}
		return "-"
	}
	row := func(k, v string) { fmt.Fprintf(w, "  %s\t%s\n", k, v) }

	var code, data, rest []string // collected first, so that run can list what no field shows
	r := l.Run
	fmt.Fprintln(w, "run")
	id := r.ID
	switch {
	case id == "":
		id = "-"
	case runIDFrom[r.IDFrom] != "":
		id += " (" + runIDFrom[r.IDFrom] + ")"
	}
	row("id", id)
	if r.State != resolver.LinkNone && r.State != resolver.LinkFound {
		row("state", string(r.State))
	}
	if r.State == resolver.LinkFound || r.State == resolver.LinkDeleted {
		row("name", orDash(clip(r.Name)))
		exp := r.ExperimentID
		if r.ExperimentName != "" {
			exp += " (" + clip(r.ExperimentName) + ")"
		}
		row("experiment", orDash(exp))
		row("status", orDash(clip(r.Status)))
		row("user", orDash(clip(r.User)))
		row("start", millis(r.StartTime))
		row("end", millis(r.EndTime))
	}

	c := l.Code
	commit := orAbsent(c.GitCommit, "no git commit logged")
	if c.GitCommitFrom == "logged_model" {
		commit += " (the logged model's tag; the run has none)"
	}
	code = append(code, "git_commit", commit, "repository", orAbsent(c.RepoURL, "no git repository logged"))
	source := orDash(clip(c.SourceName))
	if c.SourceType != "" {
		source += " (" + clip(c.SourceType) + ")"
	}
	code = append(code, "source", source, "entry_point", orAbsent(c.EntryPoint, "no entry point logged"))

	d := l.Data
	version := "none: " + d.VersionNote
	if d.Version != "" {
		version = clip(d.Version) + " (" + d.VersionFrom + ")"
	}
	data = append(data, "data_version", version, "dvc_data_hash", orAbsent(d.DVCDataHash, "no DVC data hash logged"))
	if len(d.Datasets) == 0 {
		data = append(data, "datasets", orAbsent("", "no dataset input logged"))
	}
	for i, ds := range d.Datasets {
		if i == maxListed {
			data = append(data, "", fmt.Sprintf("… and %d more dataset inputs (see --json)", len(d.Datasets)-maxListed))
			break
		}
		src := clip(ds.SourceURI)
		if src == "" {
			src = clip(ds.Source)
		}
		ctx := clip(ds.Context)
		if ctx == "" {
			ctx = "none logged"
		}
		data = append(data, "dataset", fmt.Sprintf("%s  digest %s  context %s  source %s %s",
			clip(ds.Name), orDash(clip(ds.Digest)), ctx, orDash(clip(ds.SourceType)), orDash(src)))
	}
	orAbsent("", "no data version")
	orAbsent("", "no params logged")
	orAbsent("", "no metrics logged")
	for _, a := range l.Absent {
		if !used[a] {
			rest = append(rest, a)
		}
	}
	for _, a := range rest {
		row("note", a)
	}

	fmt.Fprintln(w, "code")
	for i := 0; i < len(code); i += 2 {
		row(code[i], code[i+1])
	}
	fmt.Fprintln(w, "data")
	for i := 0; i < len(data); i += 2 {
		row(data[i], data[i+1])
	}

	if r.State != resolver.LinkFound && r.State != resolver.LinkDeleted {
		return
	}
	fmt.Fprintf(w, "params (%d)\n", len(l.Params))
	for i, p := range l.Params {
		if i == maxListed {
			row("…", fmt.Sprintf("%d more (see --json)", len(l.Params)-maxListed))
			break
		}
		row(clip(p.Key), clip(p.Value))
	}
	if len(l.Params) == 0 {
		row("none", "no params logged")
	}
	fmt.Fprintf(w, "metrics (%d, final values)\n", len(l.Metrics))
	for i, m := range l.Metrics {
		if i == maxListed {
			row("…", fmt.Sprintf("%d more (see --json)", len(l.Metrics)-maxListed))
			break
		}
		row(clip(m.Key), fmt.Sprintf("%s  step %d", strconv.FormatFloat(float64(m.Value), 'g', -1, 64), m.Step))
	}
	if len(l.Metrics) == 0 {
		row("none", "no metrics logged")
	}
	fmt.Fprintf(w, "tags (%d)\n", len(l.Tags))
	for i, k := range slices.Sorted(maps.Keys(l.Tags)) {
		if i == maxListed {
			row("…", fmt.Sprintf("%d more (see --json)", len(l.Tags)-maxListed))
			break
		}
		row(clip(k), clip(l.Tags[k]))
	}
}

// printReproduce writes the notes as shell comments, then the commands. A
// command longer than maxCommandBytes is not printed at all, since a cut
// command could still run.
func printReproduce(w io.Writer, rp reproduction) {
	fmt.Fprintln(w, "reproduce")
	for _, n := range rp.Notes {
		fmt.Fprintf(w, "  # %s\n", n)
	}
	for _, c := range rp.Commands {
		if len(c) > maxCommandBytes {
			fmt.Fprintf(w, "  # a command of %d bytes, too long to print here: see reproduce.commands in --json\n", len(c))
			continue
		}
		fmt.Fprintf(w, "  %s\n", c)
	}
	if len(rp.Commands) == 0 {
		fmt.Fprintln(w, "  # nothing to run")
	}
}

// clip returns v ready to print: control characters escaped (display) and
// cut after maxValueRunes with a marker saying how long it was.
func clip(v string) string {
	v = display(v)
	n := utf8.RuneCountInString(v)
	if n <= maxValueRunes {
		return v
	}
	runes, cut := 0, 0
	for cut = range v {
		if runes == maxValueRunes {
			break
		}
		runes++
	}
	return fmt.Sprintf("%s… [%d characters; see --json]", v[:cut], n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// millis formats milliseconds since the epoch as RFC 3339 with
// milliseconds; 0 is "-".
func millis(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
