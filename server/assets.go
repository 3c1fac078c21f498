package server

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
)

// hashedName matches build outputs whose name carries a content hash
// (esbuild chunks such as hls.light-Z3YY76IU.js): they never change.
var hashedName = regexp.MustCompile(`-[A-Z0-9]{8}\.[a-z]+$`)

// assetHandler serves the embedded web assets with caching headers:
// embedded files have no modification time, so without them every page
// view would fetch every script again. Content-hashed chunks are
// immutable; the others carry an ETag (a hash of their bytes, computed once)
// and must be revalidated, which http.FileServerFS answers with 304.
func assetHandler(assets fs.FS) http.Handler {
	etags := map[string]string{}
	fs.WalkDir(assets, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := fs.ReadFile(assets, path); err == nil {
			sum := sha256.Sum256(b)
			etags[path] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
		return nil
	})
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if etag, ok := etags[name]; ok {
			w.Header().Set("ETag", etag)
			if hashedName.MatchString(name) {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				w.Header().Set("Cache-Control", "no-cache")
			}
		}
		files.ServeHTTP(w, r)
	})
}
