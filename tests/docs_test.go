package tests

import (
	"bytes"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nanosiem/nano/docs/gen"
)

// markdownFiles returns README.md and every docs/**/*.md, as paths from the
// repository's root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir("../docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel("..", p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

var (
	reFence   = regexp.MustCompile("(?ms)^[ \t]*```.*?^[ \t]*```[^\n]*$")
	reCode    = regexp.MustCompile("`[^`\n]*`")
	reLink    = regexp.MustCompile(`!?\[[^\]\n]*\]\(([^)\s]+)\)`)
	reHeading = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$`)
	reNotSlug = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// prose is a Markdown text without its code blocks and code spans, where
// links are not links.
func prose(md string) string {
	return reCode.ReplaceAllString(reFence.ReplaceAllString(md, ""), "")
}

// anchors are the ids GitHub gives a page's headings: lower case, only
// letters, digits, spaces, hyphens and underscores kept, spaces as
// hyphens, repeats numbered -1, -2, ...
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range reHeading.FindAllStringSubmatch(reFence.ReplaceAllString(md, ""), -1) {
		h := strings.ReplaceAll(m[1], "`", "")
		h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1")
		slug := strings.ReplaceAll(reNotSlug.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// Every relative link of README.md and docs/**/*.md points at a file of
// the repository, and a #fragment at a heading of the Markdown page it
// names (or of the page itself).
func TestDocsLinksResolve(t *testing.T) {
	files := markdownFiles(t)
	pages := map[string]string{}
	for _, f := range files {
		pages[f] = readDoc(t, f)
	}
	checked := 0
	for _, f := range files {
		for _, m := range reLink.FindAllStringSubmatch(prose(pages[f]), -1) {
			u, err := url.Parse(m[1])
			if err != nil {
				t.Errorf("%s: link %q does not parse: %v", f, m[1], err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue // the web
			}
			checked++
			target := f
			if u.Path != "" {
				if strings.HasPrefix(u.Path, "/") {
					t.Errorf("%s: link %q is absolute; link relative to the page", f, m[1])
					continue
				}
				target = path.Clean(path.Join(path.Dir(f), u.Path))
				if strings.HasPrefix(target, "../") {
					t.Errorf("%s: link %q leaves the repository", f, m[1])
					continue
				}
				if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(target))); err != nil {
					t.Errorf("%s: link %q: %s does not exist", f, m[1], target)
					continue
				}
			}
			if u.Fragment == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			md, ok := pages[target]
			if !ok {
				md = readDoc(t, target)
			}
			if !anchors(md)[u.Fragment] {
				t.Errorf("%s: link %q: %s has no heading #%s", f, m[1], target, u.Fragment)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("found only %d relative links in %d pages; is the link pattern right?", checked, len(files))
	}
}

// The slugs are GitHub's (a control for anchors above).
func TestDocsAnchorsAreGitHubs(t *testing.T) {
	got := anchors("# nano\n## `bash tests/run`\n## A full disk stops ingest; it deletes nothing\n## Tier upgrades (moving the data)\n## Examples\n### Examples\n```\n# not a heading\n```\n")
	for _, want := range []string{"nano", "bash-testsrun", "a-full-disk-stops-ingest-it-deletes-nothing", "tier-upgrades-moving-the-data", "examples", "examples-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a line in a code block became an anchor: %v", got)
	}
}

// The generated references (docs/gen) are what the code says today.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	pages, err := gen.Pages("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 {
		t.Fatalf("docs/gen renders %d pages, want configuration, environment and policy rules", len(pages))
	}
	for p, want := range pages {
		have, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %v; run `go generate ./...`", p, err)
			continue
		}
		if !bytes.Equal(have, want) {
			t.Errorf("%s is stale: it differs from what the code says (settings.Keys, services/contract, policy/rules); run `go generate ./...` and commit the result", p)
		}
	}
}
