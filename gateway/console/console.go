// Package console holds killgate's web console: static files embedded in the
// binary and an http.Handler that serves them under /console/ with strict
// security headers. The console is nothing but an API client: the browser
// signs ordinary TC3 (and Huawei) calls with the key the user typed, so this
// package adds no endpoint that acts, reads state or authenticates
// (docs/console.md).
//
// It imports only the standard library: the console reaches killgate through
// the API, never through killgate's packages.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console response: scripts,
// styles, images and connections from this origin only, no inline script or
// style, no framing, no <base>, no form submissions.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Options configure the handler.
type Options struct {
	// HuaweiProjectID, when the Huawei door is mounted, is written into
	// index.html so that the sign-in form can pre-fill it. A project id is
	// not a credential: it is part of every Huawei API path.
	HuaweiProjectID string
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the embedded files. Paths are relative to Prefix; "" and
// "index.html" serve the app. Anything else not embedded is a 404.
type Handler struct {
	files map[string]file
}

// contentTypes are the types of the embedded files (not read from the
// system's mime tables, which differ between machines).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// projectMeta is the placeholder in index.html replaced by the project id.
const projectMeta = `<meta name="kg-huawei-project" content="">`

// New indexes the embedded files.
func New(o Options) (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("console: no content type for %s", name)
		}
		if name == "index.html" {
			if !bytes.Contains(b, []byte(projectMeta)) {
				return fmt.Errorf("console: index.html lacks %s", projectMeta)
			}
			b = bytes.Replace(b, []byte(projectMeta),
				[]byte(`<meta name="kg-huawei-project" content="`+html.EscapeString(o.HuaweiProjectID)+`">`), 1)
		}
		sum := sha256.Sum256(b)
		h.files[name] = file{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("console: index.html is not embedded")
	}
	return h, nil
}

// SetHeaders sets the security headers every console response carries.
func SetHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// ServeHTTP serves rel, the path below Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/"))
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		rel = "index.html"
	}
	f, ok := h.files[rel]
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	// Names carry no content hash, so every load revalidates (a 304 when
	// unchanged): a new killgate binary is never mixed with cached files.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// Files lists the embedded files and their sizes in bytes (as served, so
// index.html includes the project id).
func (h *Handler) Files() map[string]int {
	out := make(map[string]int, len(h.files))
	for n, f := range h.files {
		out[n] = len(f.body)
	}
	return out
}

// Names returns the embedded file names, sorted.
func (h *Handler) Names() []string {
	out := make([]string, 0, len(h.files))
	for n := range h.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
