// Package cvss computes CVSS base scores from vectors: v3.0/v3.1 per the CVSS v3.1
// specification (first.org/cvss/v3.1/specification-document, section 7) and v2 per the CVSS
// v2 guide (first.org/cvss/v2/guide, section 3.2.1). Advisories carry vectors more reliably
// than scores, and a score computed here is the same for every advisory with that vector.
package cvss

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Score is a parsed vector and its base score.
type Score struct {
	// Vector is the vector as given, trimmed.
	Vector string
	Base   float64
}

// String formats the base score with one decimal, as scores are published.
func (s Score) String() string { return strconv.FormatFloat(s.Base, 'f', 1, 64) }

// metrics splits "K:V/K:V" into a map, refusing duplicates and keys outside known. The base
// keys must all be present; the others (temporal, environmental) are allowed and ignored,
// as a base score does not depend on them.
func metrics(body string, base []string, known map[string]string) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range strings.Split(body, "/") {
		k, v, ok := strings.Cut(part, ":")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not a metric", part)
		}
		values, isKnown := known[k]
		if !isKnown {
			return nil, fmt.Errorf("unknown metric %q", k)
		}
		if !strings.Contains(","+values+",", ","+v+",") {
			return nil, fmt.Errorf("metric %s has no value %q", k, v)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("metric %s given twice", k)
		}
		m[k] = v
	}
	for _, k := range base {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("base metric %s missing", k)
		}
	}
	return m, nil
}

var v3Base = []string{"AV", "AC", "PR", "UI", "S", "C", "I", "A"}

// v3Known lists each metric's values, comma-separated.
var v3Known = map[string]string{
	"AV": "N,A,L,P", "AC": "L,H", "PR": "N,L,H", "UI": "N,R", "S": "U,C", "C": "H,L,N", "I": "H,L,N", "A": "H,L,N",
	"E": "X,U,P,F,H", "RL": "X,O,T,W,U", "RC": "X,U,R,C",
	"CR": "X,L,M,H", "IR": "X,L,M,H", "AR": "X,L,M,H",
	"MAV": "X,N,A,L,P", "MAC": "X,L,H", "MPR": "X,N,L,H", "MUI": "X,N,R", "MS": "X,U,C",
	"MC": "X,H,L,N", "MI": "X,H,L,N", "MA": "X,H,L,N",
}

// V3 parses a "CVSS:3.0/..." or "CVSS:3.1/..." vector and computes its base score.
func V3(vector string) (Score, error) {
	vector = strings.TrimSpace(vector)
	var body string
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"), strings.HasPrefix(vector, "CVSS:3.0/"):
		body = vector[len("CVSS:3.1/"):]
	default:
		return Score{}, fmt.Errorf("CVSS v3 vector %q does not start with CVSS:3.0/ or CVSS:3.1/", vector)
	}
	m, err := metrics(body, v3Base, v3Known)
	if err != nil {
		return Score{}, fmt.Errorf("CVSS v3 vector %q: %w", vector, err)
	}
	changed := m["S"] == "C"
	av := weight(m["AV"], v3AV)
	ac := weight(m["AC"], v3AC)
	pr := weight(m["PR"], v3PR)
	if changed {
		// Privileges weigh less when the impact reaches beyond the vulnerable component.
		pr = weight(m["PR"], v3PRChanged)
	}
	ui := weight(m["UI"], v3UI)
	cia := func(k string) float64 { return weight(m[k], v3CIA) }
	iss := 1 - (1-cia("C"))*(1-cia("I"))*(1-cia("A"))
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * av * ac * pr * ui
	var base float64
	switch {
	case impact <= 0:
		base = 0
	case changed:
		base = roundup(math.Min(1.08*(impact+exploitability), 10))
	default:
		base = roundup(math.Min(impact+exploitability, 10))
	}
	return Score{Vector: vector, Base: base}, nil
}

// weighted is a metric value and its weight in the equations.
type weighted struct {
	value  string
	weight float64
}

// The specifications' weights: v3.1 section 7.4, v2 section 3.2.1.
var (
	v3AV        = []weighted{{"N", 0.85}, {"A", 0.62}, {"L", 0.55}, {"P", 0.2}}
	v3AC        = []weighted{{"L", 0.77}, {"H", 0.44}}
	v3PR        = []weighted{{"N", 0.85}, {"L", 0.62}, {"H", 0.27}}
	v3PRChanged = []weighted{{"N", 0.85}, {"L", 0.68}, {"H", 0.5}}
	v3UI        = []weighted{{"N", 0.85}, {"R", 0.62}}
	v3CIA       = []weighted{{"H", 0.56}, {"L", 0.22}, {"N", 0}}
	v2AV        = []weighted{{"L", 0.395}, {"A", 0.646}, {"N", 1.0}}
	v2AC        = []weighted{{"H", 0.35}, {"M", 0.61}, {"L", 0.71}}
	v2Au        = []weighted{{"M", 0.45}, {"S", 0.56}, {"N", 0.704}}
	v2CIA       = []weighted{{"N", 0}, {"P", 0.275}, {"C", 0.660}}
)

// weight looks a metric's (validated) value up.
func weight(v string, table []weighted) float64 {
	for _, w := range table {
		if w.value == v {
			return w.weight
		}
	}
	return 0
}

// roundup is the specification's Roundup (v3.1, Appendix A): the smallest one-decimal number
// not below x, computed on integers so that 4.000000000001 does not become 4.1. v3.0 defined
// the same rounding without the floating-point care; it is used for both.
func roundup(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

var v2Base = []string{"AV", "AC", "Au", "C", "I", "A"}

var v2Known = map[string]string{
	"AV": "L,A,N", "AC": "H,M,L", "Au": "M,S,N", "C": "N,P,C", "I": "N,P,C", "A": "N,P,C",
	"E": "U,POC,F,H,ND", "RL": "OF,TF,W,U,ND", "RC": "UC,UR,C,ND",
	"CDP": "N,L,LM,MH,H,ND", "TD": "N,L,M,H,ND", "CR": "L,M,H,ND", "IR": "L,M,H,ND", "AR": "L,M,H,ND",
}

// V2 parses a CVSS v2 vector ("AV:N/AC:L/Au:N/C:P/I:P/A:P", optionally in parentheses or after
// "CVSS2#") and computes its base score.
func V2(vector string) (Score, error) {
	vector = strings.TrimSpace(vector)
	body := strings.TrimPrefix(vector, "CVSS2#")
	if strings.HasPrefix(body, "(") && strings.HasSuffix(body, ")") {
		body = body[1 : len(body)-1]
	}
	m, err := metrics(body, v2Base, v2Known)
	if err != nil {
		return Score{}, fmt.Errorf("CVSS v2 vector %q: %w", vector, err)
	}
	av := weight(m["AV"], v2AV)
	ac := weight(m["AC"], v2AC)
	au := weight(m["Au"], v2Au)
	cia := func(k string) float64 { return weight(m[k], v2CIA) }
	impact := 10.41 * (1 - (1-cia("C"))*(1-cia("I"))*(1-cia("A")))
	exploitability := 20 * av * ac * au
	f := 1.176
	if impact == 0 {
		f = 0
	}
	base := (0.6*impact + 0.4*exploitability - 1.5) * f
	// round_to_1_decimal, after removing floating-point noise below the fifth decimal.
	base = math.Round(math.Round(base*100000)/100000*10) / 10
	return Score{Vector: vector, Base: base}, nil
}
