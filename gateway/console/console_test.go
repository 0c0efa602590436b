package console

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.uber.org/zap"

	"killgate/actions"
)

var update = flag.Bool("update", false, "rewrite static/js/examples.js from docs/actions/*.md")

const examplesPath = "static/js/examples.js"

// docsExamples reads the first JSON block under "## Example" of every
// docs/actions/<Action>.md.
func docsExamples(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob("../../docs/actions/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/actions/*.md: %v", err)
	}
	re := regexp.MustCompile("(?s)\n## Example\n.*?```json\n(.*?)\n```")
	out := map[string]json.RawMessage{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no ```json block under ## Example", f)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m[1]); err != nil {
			t.Fatalf("%s: example is not JSON: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".md")] = buf.Bytes()
	}
	return out
}

func renderExamples(ex map[string]json.RawMessage) []byte {
	names := make([]string, 0, len(ex))
	for n := range ex {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("// The example request of every action, from docs/actions/<Action>.md (the first\n")
	b.WriteString("// JSON block under \"## Example\"). Generated; TestConsoleExamples keeps it in sync:\n")
	b.WriteString("//   go test ./gateway/console -run TestConsoleExamples -update\n")
	b.WriteString("export const examples = {\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %q: %s,\n", n, ex[n])
	}
	b.WriteString("};\n")
	return b.Bytes()
}

// TestConsoleExamples: the API explorer's pre-filled parameters are the
// docs' examples, for every action documented.
func TestConsoleExamples(t *testing.T) {
	want := renderExamples(docsExamples(t))
	if *update {
		if err := os.WriteFile(examplesPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(examplesPath)
	if err != nil {
		t.Fatal(err)
	}
	ex := docsExamples(t)
	for _, name := range actions.NewRegistry(actions.NewService(nil, zap.NewNop()).Actions()).Names() {
		if _, ok := ex[name]; !ok {
			t.Errorf("action %s has no example for the API explorer (docs/actions/%s.md)", name, name)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with docs/actions/*.md; run: go test ./gateway/console -run TestConsoleExamples -update\n--- want\n%s", examplesPath, want)
	}
}

func TestHandler(t *testing.T) {
	h, err := New(Options{HuaweiProjectID: `054e292c9880d4992f02c0196d3ea468"><script>`})
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, path string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
		ctype              string
	}{
		{"index", "GET", "/console/", 200, "text/html; charset=utf-8"},
		{"index by name", "GET", "/console/index.html", 200, "text/html; charset=utf-8"},
		{"head", "HEAD", "/console/", 200, "text/html; charset=utf-8"},
		{"module", "GET", "/console/js/main.js", 200, "text/javascript; charset=utf-8"},
		{"page module", "GET", "/console/js/pages/sessions.js", 200, "text/javascript; charset=utf-8"},
		{"style", "GET", "/console/app.css", 200, "text/css; charset=utf-8"},
		{"icon", "GET", "/console/favicon.svg", 200, "image/svg+xml"},
		{"missing", "GET", "/console/nope.js", 404, ""},
		{"directory", "GET", "/console/js/", 404, ""},
		{"traversal", "GET", "/console/../go.mod", 404, ""},
		{"embedded go file", "GET", "/console/console.go", 404, ""},
		{"post", "POST", "/console/", 405, ""},
		{"delete", "DELETE", "/console/app.css", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(tc.method, tc.path)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			for k, v := range map[string]string{
				"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "no-referrer",
			} {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", w.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.status == 200 && w.Header().Get("Cache-Control") != "no-cache" {
				t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
		})
	}
	t.Run("csp has no unsafe source", func(t *testing.T) {
		if strings.Contains(CSP, "unsafe") || !strings.Contains(CSP, "script-src 'self'") || !strings.Contains(CSP, "frame-ancestors 'none'") {
			t.Fatal(CSP)
		}
	})
	t.Run("etag revalidation", func(t *testing.T) {
		w := get("GET", "/console/app.css")
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if w2 := get("GET", "/console/app.css", "If-None-Match", etag); w2.Code != http.StatusNotModified {
			t.Fatalf("revalidation: %d", w2.Code)
		}
	})
	t.Run("project id escaped into index", func(t *testing.T) {
		body := get("GET", "/console/").Body.String()
		if !strings.Contains(body, `content="054e292c9880d4992f02c0196d3ea468&#34;&gt;&lt;script&gt;"`) {
			t.Fatalf("project meta not escaped: %s", body)
		}
	})
	t.Run("no inline script or style", func(t *testing.T) {
		for name, f := range h.files {
			if !strings.HasSuffix(name, ".html") && !strings.HasSuffix(name, ".js") {
				continue
			}
			s := strings.ReplaceAll(string(f.body), "http://www.w3.org/2000/svg", "") // the SVG namespace, not a request
			for _, bad := range []string{"<script>", " style=\"", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "http://", "https://"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s contains %q", name, bad)
				}
			}
		}
	})
}

// TestBundleSize reports the total size of the embedded console files.
func TestBundleSize(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range h.Names() {
		total += h.Files()[n]
	}
	t.Logf("figure: console bundle %d bytes in %d files (uncompressed)", total, len(h.Names()))
}
