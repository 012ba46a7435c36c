package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

//go:embed static
var staticFS embed.FS

// asset is an embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets are the embedded static files by name ("app.css").
type assets map[string]asset

func loadAssets() (assets, error) {
	a := assets{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(body)
		}
		a[path.Base(p)] = asset{body: body, ctype: ctype, etag: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: reading the embedded static files: %w", err)
	}
	return a, nil
}

// url returns the asset's URL with its content hash, so that it can be
// cached for long.
func (a assets) url(name string) string {
	return "/static/" + name + "?v=" + a[name].etag
}

// static serves GET /static/*.
func (s *Server) static(c echo.Context) error {
	f, ok := s.assets[c.Param("*")]
	if !ok {
		return s.fail(c, Errorf(ENOTFOUND, "no such file"))
	}
	h := c.Response().Header()
	h.Set("ETag", `"`+f.etag+`"`)
	h.Set("Cache-Control", "public, max-age=86400")
	if c.Request().Header.Get("If-None-Match") == `"`+f.etag+`"` {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, f.ctype, f.body)
}
