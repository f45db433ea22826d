package serve

import (
	"strings"
	"testing"
)

var testRules = registryRules{{Allow: []string{"churn-*", "fraud-*"}, Deny: []string{"*-experimental"},
	Aliases: []string{"champion", "challenger"}, Versions: true, DefaultAlias: "champion"}}

func TestRegistryPathAndRules(t *testing.T) {
	for _, c := range []struct {
		path string
		key  string // "" for a 404
		says string
	}{
		{"/models/churn-gbm@champion/invocations", "churn-gbm@champion", ""},
		{"/models/churn-gbm@challenger/invocations", "churn-gbm@challenger", ""},
		{"/models/churn-gbm/12/invocations", "churn-gbm/12", ""},
		{"/models/churn-gbm/invocations", "churn-gbm@champion", ""},
		{"/models/fraud-x.v2@champion/invocations", "fraud-x.v2@champion", ""},
		{"/models/churn-new-experimental@champion/invocations", "", "no registry route allows"},
		{"/models/credit@champion/invocations", "", "no registry route allows"},
		{"/models/churn-gbm@staging/invocations", "", "is not served here"},
		{"/models/churn-gbm/012/invocations", "", "not a version number"},
		{"/models/churn-gbm/latest/invocations", "", "not a version number"},
		{"/models/churn gbm@champion/invocations", "", "names that match"},
		{"/models/-churn@champion/invocations", "", "names that match"},
		{"/models/churn-gbm@champion@x/invocations", "", "is not served here"},
	} {
		mp, ok := parseRegistryPath([]byte(c.path))
		if !ok {
			t.Fatalf("%s: not a registry path", c.path)
		}
		ref, err := testRules.match(mp)
		switch {
		case c.key != "" && (err != nil || ref.Key() != c.key):
			t.Errorf("%s: %+v %v; want %s", c.path, ref, err, c.key)
		case c.key == "" && (err == nil || !strings.Contains(err.Error(), c.says)):
			t.Errorf("%s: %+v %v; want 404 saying %q", c.path, ref, err, c.says)
		}
	}
	for _, p := range []string{"/models//invocations", "/models/a/b/c/invocations", "/models/invocations", "/model/a@b/invocations", "/models/a@b/invocation"} {
		if mp, ok := parseRegistryPath([]byte(p)); ok {
			t.Errorf("%s parsed as %+v", p, mp)
		}
	}
}

func TestValidateRegistryRoutes(t *testing.T) {
	for _, c := range []struct {
		spec RegistryRouteSpec
		says string
	}{
		{RegistryRouteSpec{Aliases: []string{"champion"}}, "allow"},
		{RegistryRouteSpec{Allow: []string{"["}, Aliases: []string{"champion"}}, "not valid"},
		{RegistryRouteSpec{Allow: []string{"*"}}, "aliases, or versions"},
		{RegistryRouteSpec{Allow: []string{"*"}, Aliases: []string{"a b"}}, "not an MLflow alias"},
		{RegistryRouteSpec{Allow: []string{"*"}, Aliases: []string{"champion"}, DefaultAlias: "prod"}, "default_alias"},
	} {
		if err := ValidateRegistryRoutes([]RegistryRouteSpec{c.spec}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v; want an error saying %q", c.spec, err, c.says)
		}
	}
	if err := ValidateRegistryRoutes(testRules); err != nil {
		t.Error(err)
	}
}

// FuzzRegistryPath: whatever the path, parsing and matching never panic,
// and what a rule allows is a name, alias or version safe to put in a
// models:/ URI, a registry query and a header: the route key's grammar.
func FuzzRegistryPath(f *testing.F) {
	for _, s := range []string{"/models/churn-gbm@champion/invocations", "/models/churn-gbm/3/invocations",
		"/models/churn-gbm/invocations", "/models/churn-%2e%2e/invocations", "/models/a@b@c/invocations", "/models/\x00@champion/invocations"} {
		f.Add(s)
	}
	rules := registryRules{{Allow: []string{"*"}, Aliases: []string{"champion", "challenger"}, Versions: true, DefaultAlias: "champion"}}
	f.Fuzz(func(t *testing.T, path string) {
		mp, ok := parseRegistryPath([]byte(path))
		if !ok {
			return
		}
		ref, err := rules.match(mp)
		if err != nil {
			return
		}
		if !onDemandName.MatchString(ref.Key()) {
			t.Fatalf("%q allowed as %q, outside the route key grammar", path, ref.Key())
		}
		if strings.ContainsAny(ref.URI(), "?#&%\\ \r\n\x00") {
			t.Fatalf("%q gives the URI %q", path, ref.URI())
		}
		var buf [512]byte
		if got := string(mp.appendKey(buf[:0], rules.defaultAlias(mp.name))); got != ref.Key() {
			t.Fatalf("%q: hot-path key %q, matched key %q", path, got, ref.Key())
		}
	})
}
