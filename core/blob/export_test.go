package blob

import (
	"io"
	"net/http"
)

// MapWindow lets tests map a file in windows smaller than a test blob.
var MapWindow = &mapWindow

// DirectWrites is what ServeContent copies a blob's bytes into.
func DirectWrites(w http.ResponseWriter) io.ReaderFrom { return directWrites{w, true} }
