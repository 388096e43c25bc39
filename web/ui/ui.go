// Package ui embeds Vigil's built web UI: dist/ as written by `npm run
// build` in this directory (see README.md). The build is committed, so
// building Vigil needs no Node.js; TestBuildIsCurrent fails when the
// sources changed after the last build.
package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// indexTemplate is dist/index.html, parsed once: the build writes it as an
// html/template so that the server can fill in per-session values.
var indexTemplate = template.Must(template.ParseFS(dist, "dist/index.html"))

// Page holds the per-request values of index.html.
type Page struct {
	// CSRFToken is the session's CSRF token, carried in <meta
	// name="csrf-token"> for the front end to send as X-CSRF-Token; empty
	// when the request was not authenticated by a session.
	CSRFToken string
}

// Index renders index.html, the page of every UI path, for p.
func Index(p Page) ([]byte, error) {
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("rendering the UI's index.html: %w", err)
	}
	return buf.Bytes(), nil
}

// Assets is dist/assets: the bundle, its stylesheet and the icon. Their
// names carry a content hash (but for favicon.svg), so they can be cached
// for long.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist/assets")
	if err != nil {
		// fs.Sub fails only on an invalid path, and this one is constant.
		panic(err)
	}
	return sub
}

// SourceHash is the SHA-256 of the sources the embedded build was made
// from, as build.mjs computed it (dist/SOURCE_HASH).
func SourceHash() string {
	b, err := dist.ReadFile("dist/SOURCE_HASH")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}
