package signing

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Paths the certificate handler serves.
const (
	CAPath       = "/_berth/signing/ca"
	ProfilesPath = "/_berth/signing/profiles/" // + {arn} + /certificate
)

// CertificateHandler serves, as PEM, the berth signing CA alone at CAPath,
// and at ProfilesPath{arn}/certificate a profile's leaf certificate followed
// by the CA: what a Notation trust store and a verifier need. The ARN may be
// path-escaped (its slash as %2F) or not. A profile berth has no key for is
// 404. Certificates are public: the handler asks for no credentials.
func CertificateHandler(keys *Keys) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "only GET and HEAD")
			return
		}
		raw := r.URL.EscapedPath()
		if raw == CAPath {
			ca, err := keys.CA()
			if err != nil {
				httpError(w, http.StatusInternalServerError, err.Error())
				return
			}
			writePEM(w, PEM(ca))
			return
		}
		rest, ok := strings.CutPrefix(raw, ProfilesPath)
		rest, ok2 := strings.CutSuffix(rest, "/certificate")
		arn, err := url.PathUnescape(rest)
		if !ok || !ok2 || err != nil {
			httpError(w, http.StatusNotFound, "no such path: "+CAPath+" or "+ProfilesPath+"{signingProfileArn}/certificate")
			return
		}
		p, found, err := keys.Known(arn)
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if !found {
			httpError(w, http.StatusNotFound, "no signing profile "+arn+" (a profile is known once a signing configuration names it)")
			return
		}
		writePEM(w, PEM(p.Chain...))
	})
}

func writePEM(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(b)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
