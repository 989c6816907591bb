package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/herald-hq/herald"

// layers are the import rules that keep the shape of docs/ARCHITECTURE.md: a package matching
// a rule's from (itself or below it) may not depend, directly or not, on a package matching
// one of its never (itself or below it; "=" before a path matches that package alone).
var layers = []struct {
	from  string
	never []string
}{
	// The store owns rows and SQL; it never calls up into the worker or the API.
	{"models", []string{"worker", "graph"}},
	// The worker never calls the API; only tests use the test store helpers.
	{"worker", []string{"graph", "models/storetest"}},
	{"graph", []string{"models/storetest"}},
	// The REST ingest is not GraphQL.
	{"graph/ingest", []string{"=graph", "graph/model", "graph/gorillaws"}},
	// The transport, the egress client and the pages know nothing of Herald.
	{"graph/gorillaws", []string{"models", "worker", "graph", "web"}},
	{"worker/egress", []string{"models", "worker", "graph", "web"}},
	{"web", []string{"models", "worker", "graph"}},
	// A webhook's rules and the text rules know nothing of storage.
	{"models/webhook", []string{"=models", "models/storetest"}},
	{"models/text", []string{"=models", "models/webhook", "models/storetest"}},
	// Reading alert payloads is pure.
	{"models/payload", []string{"=models", "models/storetest"}},
	// The in-memory hub holds ids, not rows.
	{"models/hub", []string{"=models", "models/storetest"}},
	// The template language, the signing schemes and the outcome policy are pure leaves.
	{"models/webhook/render", []string{"=models/webhook"}},
	{"models/webhook/sign", []string{"=models/webhook"}},
	{"models/webhook/outcome", []string{"=models/webhook"}},
}

// under reports whether pkg (relative to the module) is rule or below it, or exactly rule
// when rule starts with "=".
func under(pkg, rule string) bool {
	if exact, ok := strings.CutPrefix(rule, "="); ok {
		return pkg == exact
	}
	return pkg == rule || strings.HasPrefix(pkg, rule+"/")
}

// layeringViolations lists the dependencies of deps (package → everything it depends on, as
// import paths) that break layers.
func layeringViolations(deps map[string][]string) []string {
	var bad []string
	for pkg, all := range deps {
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			continue
		}
		for _, l := range layers {
			if !under(rel, l.from) {
				continue
			}
			for _, d := range all {
				drel, ok := strings.CutPrefix(d, module+"/")
				if !ok {
					continue
				}
				for _, never := range l.never {
					if under(drel, never) {
						bad = append(bad, rel+" depends on "+drel)
					}
				}
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

// TestLayering fails when a package depends on one its layer forbids (models on worker or
// graph, worker on graph, a webhook rule on the store), so that the shape cannot drift back.
func TestLayering(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		deps[fields[0]] = fields[1:]
	}
	for _, want := range []string{module + "/models", module + "/worker", module + "/models/webhook"} {
		if _, ok := deps[want]; !ok {
			t.Fatalf("go list did not list %s", want)
		}
	}
	for _, v := range layeringViolations(deps) {
		t.Error(v)
	}
}

// TestLayeringCatches: the check itself finds a store that imports the worker, a worker that
// imports the API, and a webhook rule that imports the store, but not a sibling's name that
// merely starts like a forbidden one.
func TestLayeringCatches(t *testing.T) {
	t.Parallel()
	got := layeringViolations(map[string][]string{
		module + "/models":                 {module + "/worker/egress", "fmt"},
		module + "/worker":                 {module + "/graph/model"},
		module + "/models/webhook":         {module + "/models", module + "/models/webhook/sign"},
		module + "/models/webhook/outcome": {module + "/models/webhook"},
		module + "/models/storetest":       {module + "/models", module + "/workerpool"},
	})
	want := []string{
		"models depends on worker/egress",
		"models/webhook depends on models",
		"models/webhook/outcome depends on models/webhook",
		"worker depends on graph/model",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations\n got %q\nwant %q", got, want)
	}
}
