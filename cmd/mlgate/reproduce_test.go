package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/resolver"
)

const commit = "8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e"

// lineageWith returns a found run's lineage with code and params.
func lineageWith(code resolver.LineageCode, data resolver.LineageData, params ...resolver.Param) *resolver.Lineage {
	return &resolver.Lineage{Run: resolver.LineageRun{ID: "r1", State: resolver.LinkFound}, Code: code, Data: data, Params: params}
}

func TestReproduce(t *testing.T) {
	tests := []struct {
		name      string
		l         *resolver.Lineage
		commands  []string
		noteParts []string // each must appear in some note
	}{
		{
			name: "full chain",
			l: lineageWith(resolver.LineageCode{GitCommit: commit, GitCommitFrom: "run", RepoURL: "https://github.com/example/churn.git", SourceType: "PROJECT", EntryPoint: "main"},
				resolver.LineageData{DVCDataHash: "5d41"}, resolver.Param{Key: "lr", Value: "0.05"}, resolver.Param{Key: "n", Value: "200"}),
			commands: []string{"git clone https://github.com/example/churn.git churn", "cd churn", "git checkout " + commit, "dvc pull",
				"mlflow run . -e main -P lr=0.05 -P n=200"},
			noteParts: []string{"the run logged dvc_data_hash 5d41"},
		},
		{
			name:      "commit without repository",
			l:         lineageWith(resolver.LineageCode{GitCommit: commit, GitCommitFrom: "run", EntryPoint: "train"}, resolver.LineageData{}),
			commands:  []string{"git checkout " + commit, "mlflow run . -e train"},
			noteParts: []string{"no git repository logged: run these in a clone", "no DVC data hash or dataset input logged"},
		},
		{
			name:      "commit from the logged model",
			l:         lineageWith(resolver.LineageCode{GitCommit: commit, GitCommitFrom: "logged_model"}, resolver.LineageData{}),
			commands:  []string{"git checkout " + commit, "mlflow run ."},
			noteParts: []string{"the commit is the logged model's mlflow.source.git.commit tag; the run has none", "no entry point logged; mlflow run uses main"},
		},
		{
			name:      "repository without commit",
			l:         lineageWith(resolver.LineageCode{RepoURL: "https://github.com/example/churn", SourceType: "PROJECT", EntryPoint: "main"}, resolver.LineageData{DVCDataHash: "5d41"}),
			commands:  []string{"dvc pull", "mlflow run https://github.com/example/churn -e main"},
			noteParts: []string{"no git commit logged", "dvc pull restores the data of the current checkout, which may not be dvc_data_hash 5d41", "runs the repository's default branch"},
		},
		{
			name: "nothing logged but params",
			l: lineageWith(resolver.LineageCode{SourceName: "train.py", SourceType: "LOCAL"},
				resolver.LineageData{VersionNote: "no dvc_data_hash tag and no dataset input logged"}, resolver.Param{Key: "lr", Value: "0.1"}),
			commands: []string{"mlflow run . -P lr=0.1"},
			noteParts: []string{"no git commit logged", "the training data cannot be identified", "the run's mlflow.source.name is train.py",
				"no entry point logged; mlflow run uses main", "not started by mlflow run (mlflow.source.type LOCAL"},
		},
		{
			name:      "dataset input without DVC",
			l:         lineageWith(resolver.LineageCode{}, resolver.LineageData{Version: "faf026f2", VersionFrom: "digest of dataset input churn-train (context training)"}),
			commands:  []string{"mlflow run ."},
			noteParts: []string{"no DVC data hash logged: the training data is the digest of dataset input churn-train (context training), faf026f2"},
		},
		{
			name: "values are quoted",
			l: lineageWith(resolver.LineageCode{GitCommit: commit, EntryPoint: "my entry"}, resolver.LineageData{},
				resolver.Param{Key: "msg", Value: "it's $(id)"}, resolver.Param{Key: "nl", Value: "a\nb"}),
			commands: []string{"git checkout " + commit, `mlflow run . -e 'my entry' -P 'msg=it'\''s $(id)' -P $'nl=a\nb'`},
		},
		{
			name: "option-like values are not used",
			l: lineageWith(resolver.LineageCode{GitCommit: "--orphan=x", RepoURL: "--upload-pack=touch /tmp/pwned", EntryPoint: "-x"},
				resolver.LineageData{}),
			commands:  []string{"mlflow run . --entry-point=-x"},
			noteParts: []string{"the logged repository --upload-pack=touch /tmp/pwned looks like an option", "the logged git commit --orphan=x is not a git object name; not used"},
		},
		{
			name:      "NUL in a param",
			l:         lineageWith(resolver.LineageCode{GitCommit: commit}, resolver.LineageData{}, resolver.Param{Key: "p", Value: "a\x00b"}),
			commands:  []string{"git checkout " + commit},
			noteParts: []string{"NUL byte"},
		},
		{
			name:      "run not read",
			l:         &resolver.Lineage{Run: resolver.LineageRun{ID: "r1", State: resolver.LinkMissing}},
			commands:  []string{},
			noteParts: []string{"no git commit logged", "the run was not read, so its params are unknown: no mlflow run command"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := reproduce(tt.l)
			if !slices.Equal(rp.Commands, tt.commands) {
				t.Errorf("commands:\ngot  %q\nwant %q", rp.Commands, tt.commands)
			}
			for _, part := range tt.noteParts {
				if !slices.ContainsFunc(rp.Notes, func(n string) bool { return strings.Contains(n, part) }) {
					t.Errorf("no note contains %q; notes: %q", part, rp.Notes)
				}
			}
		})
	}
}

func TestCloneDir(t *testing.T) {
	for _, tt := range []struct{ repo, want string }{
		{"https://github.com/example/churn", "churn"},
		{"https://github.com/example/churn.git", "churn"},
		{"https://github.com/example/churn/", "churn"},
		{"git@github.com:example/churn.git", "churn"},
		{"https://host/..", "repo"},
		{"https://host/a b", "repo"},
		{"https://host/-rf", "repo"},
		{"https://host/", "host"},
	} {
		if got := cloneDir(tt.repo); got != tt.want {
			t.Errorf("cloneDir(%q) = %q; want %q", tt.repo, got, tt.want)
		}
	}
}

// TestResolveTextIsBounded prints a run with many long params, tags and
// metrics and a hostile value: the text stays bounded, marks every cut,
// shows control characters escaped, and leaves out the over-long command;
// the JSON keeps everything.
func TestResolveTextIsBounded(t *testing.T) {
	l := lineageWith(resolver.LineageCode{GitCommit: commit, EntryPoint: "main"}, resolver.LineageData{Datasets: []resolver.DatasetInput{}})
	l.Tags = map[string]string{}
	for i := range 120 {
		k := fmt.Sprintf("p%03d", i)
		l.Params = append(l.Params, resolver.Param{Key: k, Value: strings.Repeat("v", 6000)})
		l.Tags[k] = strings.Repeat("t", 8000)
		l.Metrics = append(l.Metrics, resolver.Metric{Key: k, Value: 0.5, Step: int64(i)})
	}
	l.Tags["evil"] = "\x1b]0;pwned\a"
	u, err := resolver.ParseURI("models:/m/1")
	if err != nil {
		t.Fatal(err)
	}
	out := &resolveOutput{Resolution: &resolver.Resolution{URI: u, Name: "m", Version: "1", Run: resolver.LinkFound}, Lineage: l, Reproduce: reproduce(l)}
	var text bytes.Buffer
	printResolution(&text, out)
	s := text.String()
	if text.Len() > 200<<10 {
		t.Errorf("text output is %d bytes; want it bounded under 200 KiB", text.Len())
	}
	for _, want := range []string{"params (120)", "70 more (see --json)", "… [6000 characters; see --json]", "… [8000 characters; see --json]",
		`"\x1b]0;pwned\a"`, "too long to print here: see reproduce.commands in --json", "git checkout " + commit} {
		if !strings.Contains(s, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	if strings.ContainsRune(s, 0x1b) || strings.Contains(s, strings.Repeat("v", 201)) {
		t.Error("text output holds a raw escape character or an uncut value")
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Lineage   resolver.Lineage `json:"lineage"`
		Reproduce reproduction     `json:"reproduce"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Lineage.Params) != 120 || back.Lineage.Params[119].Value != strings.Repeat("v", 6000) || back.Lineage.Tags["evil"] != "\x1b]0;pwned\a" ||
		len(back.Reproduce.Commands) != 2 || len(back.Reproduce.Commands[1]) < 120*6000 {
		t.Errorf("JSON does not hold everything: %d params, %d commands", len(back.Lineage.Params), len(back.Reproduce.Commands))
	}
}
