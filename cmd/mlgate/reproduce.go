package main

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/mlgate/mlgate/resolver"
)

// reproduction is how to re-run the training behind a version, built only
// from what its run logged: nothing is filled in that was not logged.
type reproduction struct {
	// Commands are shell command lines, every word quoted (shellQuote),
	// to run in order.
	Commands []string `json:"commands"`
	// Notes say what cannot be reproduced and what the commands assume.
	Notes []string `json:"notes"`
}

// gitObjectName is what a commit must look like to be put in a command:
// MLflow logs the full SHA-1 (or SHA-256) of HEAD.
var gitObjectName = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// cloneDirName is a directory name git clone may be given.
var cloneDirName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// reproduce builds the commands that re-run l's training:
//
//	git clone <repo> <dir> && cd <dir>   when the repository URL is logged
//	git checkout <commit>                when the commit is logged
//	dvc pull                             when a dvc_data_hash tag is logged
//	mlflow run <. or repo> [-e <entry point>] -P k=v ...  (params sorted)
//
// mlflow run's target is "." after a checkout; without a commit it is the
// repository URL when logged (a note says that runs the default branch),
// else "." (the project directory). Without an entry point tag no -e is
// given and a note says mlflow run uses main. A logged value that could be
// taken for an option, or that no command line can carry, is left out of
// the commands with a note.
func reproduce(l *resolver.Lineage) reproduction {
	rp := reproduction{Commands: []string{}, Notes: []string{}}
	note := func(format string, a ...any) { rp.Notes = append(rp.Notes, fmt.Sprintf(format, a...)) }
	cmd := func(words ...string) { rp.Commands = append(rp.Commands, shellCommand(words...)) }

	code := l.Code
	repo := code.RepoURL
	if strings.HasPrefix(repo, "-") || strings.ContainsRune(repo, 0) {
		note("the logged repository %s looks like an option, not a URL; not used", display(repo))
		repo = ""
	}
	checkedOut := false
	switch commit := code.GitCommit; {
	case commit == "":
		note("no git commit logged: the code that trained this version cannot be checked out")
	case !gitObjectName.MatchString(commit):
		note("the logged git commit %s is not a git object name; not used", display(commit))
	default:
		if repo != "" {
			dir := cloneDir(repo)
			cmd("git", "clone", repo, dir)
			cmd("cd", dir)
		} else {
			note("no git repository logged: run these in a clone of the repository the run came from")
		}
		cmd("git", "checkout", commit)
		checkedOut = true
		if code.GitCommitFrom == "logged_model" {
			note("the commit is the logged model's %s tag; the run has none", resolver.TagGitCommit)
		}
	}

	switch d := l.Data; {
	case d.DVCDataHash != "" && checkedOut:
		cmd("dvc", "pull")
		note("dvc pull restores the data that commit's .dvc files name; the run logged %s %s", resolver.TagDVCDataHash, display(d.DVCDataHash))
	case d.DVCDataHash != "":
		cmd("dvc", "pull")
		note("without the commit, dvc pull restores the data of the current checkout, which may not be %s %s", resolver.TagDVCDataHash, display(d.DVCDataHash))
	case d.Version != "":
		note("no DVC data hash logged: the training data is the %s, %s", d.VersionFrom, display(d.Version))
	case len(d.Datasets) > 0:
		note("no DVC data hash logged, and the dataset inputs do not say which one trained the model")
	default:
		note("no DVC data hash or dataset input logged: the training data cannot be identified")
	}

	if l.Run.State != resolver.LinkFound && l.Run.State != resolver.LinkDeleted {
		note("the run was not read, so its params are unknown: no mlflow run command")
		return rp
	}
	target := "."
	switch {
	case !checkedOut && repo != "":
		target = repo
		note("mlflow run %s runs the repository's default branch, not necessarily the code that trained this version", display(repo))
	case !checkedOut && code.SourceName != "":
		note("mlflow run . runs the code in the current directory (the run's %s is %s)", resolver.TagSourceName, display(code.SourceName))
	case !checkedOut:
		note("mlflow run . runs the code in the current directory")
	}
	words := []string{"mlflow", "run", target}
	switch ep := code.EntryPoint; {
	case ep == "":
		note("no entry point logged; mlflow run uses main")
		if code.SourceType != "" && code.SourceType != "PROJECT" {
			note("the run was not started by mlflow run (%s %s, %s %s): main must be an MLproject entry point that takes these params",
				resolver.TagSourceType, display(code.SourceType), resolver.TagSourceName, display(code.SourceName))
		}
	case strings.HasPrefix(ep, "-"):
		words = append(words, "--entry-point="+ep)
	default:
		words = append(words, "-e", ep)
	}
	for _, p := range l.Params {
		words = append(words, "-P", p.Key+"="+p.Value)
	}
	for _, w := range words {
		if strings.ContainsRune(w, 0) {
			note("a logged value holds a NUL byte, which no command line can carry: no mlflow run command")
			return rp
		}
	}
	cmd(words...)
	return rp
}

// cloneDir returns the directory git clone would make for repo (its last
// path element without .git), or "repo" when that is not a plain name.
func cloneDir(repo string) string {
	name := strings.TrimSuffix(path.Base(strings.TrimRight(repo, "/")), ".git")
	if cloneDirName.MatchString(name) && name != "." && name != ".." {
		return name
	}
	return "repo"
}
