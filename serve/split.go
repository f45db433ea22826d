package serve

import (
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"
)

// StickySpec says where a route's cohort key comes from. With a key, the
// same key always lands on the same target while the weights stay the same;
// requests without one are split at random.
type StickySpec struct {
	// Header names a request header holding the key (e.g. X-User-Id).
	Header string `json:"header,omitempty"`
	// Column names a request column whose value in the first record is
	// the key (e.g. customer_id).
	Column string `json:"column,omitempty"`
}

// OverrideHeader picks a route's target by alias, for debugging: a
// request with "X-Model-Alias: challenger" goes to the challenger whatever
// the weights say. RouteSpec.NoOverride turns it off.
const OverrideHeader = "X-Model-Alias"

var overrideHeader = []byte(OverrideHeader)

// pick chooses the target that serves a request carried by fasthttp whose
// data is in, by choose: the override header, the sticky key from the
// route's header or column (appended to *key), or a random draw.
func (r *route) pick(ctx *fasthttp.RequestCtx, in *input, key *[]byte) (*target, error) {
	var override []byte
	if !r.noOverride {
		override = ctx.Request.Header.PeekBytes(overrideHeader)
	}
	if len(r.targets) == 1 && len(override) == 0 {
		return &r.targets[0], nil
	}
	var k []byte
	switch {
	case len(r.stickyHeader) > 0:
		k = ctx.Request.Header.PeekBytes(r.stickyHeader)
	case r.stickyColumn != "":
		if kk, ok := in.stickyKey((*key)[:0], r.stickyColumn); ok {
			*key = kk
			k = kk
		}
	}
	return r.choose(override, k)
}

// choose picks the target whose alias is override when it is not empty
// (an alias no target has is an error naming the route's aliases), else
// by the hash of a non-empty sticky key, else at random, in each case by
// weight. A target drawn by weight that no version serves yet (its first
// load is running, failed or was given up) passes its request to the
// targets that are serving, in proportion to their weights, so that a
// canary whose challenger never loaded does not fail its share; only an
// override names a target that is not serving.
func (r *route) choose(override, key []byte) (*target, error) {
	if len(override) > 0 && !r.noOverride {
		for i := range r.targets {
			if r.targets[i].alias == string(override) {
				return &r.targets[i], nil
			}
		}
		return nil, errorf(fasthttp.StatusBadRequest, codeInvalidParameterValue,
			"route %s: %s %q names no target; the route's aliases are %s", r.name, OverrideHeader, override, r.aliasList)
	}
	if len(r.targets) == 1 {
		return &r.targets[0], nil
	}
	u := -1.0
	if len(key) > 0 {
		u = r.unit(key)
	}
	if u < 0 {
		u = rand.Float64()
	}
	tg := &r.targets[r.index(u)]
	if tg.d == nil {
		if alt := r.servingAt(u); alt != nil {
			return alt, nil
		}
	}
	return tg, nil
}

// servingAt maps u in [0,1) over the weights of the targets a version
// serves; nil when none with a weight does.
func (r *route) servingAt(u float64) *target {
	var total float64
	for i := range r.targets {
		if r.targets[i].d != nil {
			total += r.targets[i].weight
		}
	}
	if total <= 0 {
		return nil
	}
	x := u * total
	var last *target
	for i := range r.targets {
		tg := &r.targets[i]
		if tg.d == nil || tg.weight <= 0 {
			continue
		}
		if x < tg.weight {
			return tg
		}
		x -= tg.weight
		last = tg
	}
	return last // u*total rounded past the last boundary
}

// serving returns the target of r that serves version: a target whose
// alias it is, else the target serving that registry version. Another
// version is an error (404) naming the versions the route serves.
func (r *route) serving(version []byte) (*target, error) {
	for i := range r.targets {
		if r.targets[i].alias != "" && r.targets[i].alias == string(version) {
			return &r.targets[i], nil
		}
	}
	for i := range r.targets {
		if d := r.targets[i].d; d != nil && d.prov.Version == string(version) {
			return &r.targets[i], nil
		}
	}
	return nil, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
		"model %s has no version %q loaded; it serves %s", r.name, version, r.versionList())
}

// versionList names the versions r serves: "1 (champion), 2
// (challenger)", or what no version serves yet.
func (r *route) versionList() string {
	var sb strings.Builder
	for i := range r.targets {
		tg := &r.targets[i]
		if i > 0 {
			sb.WriteString(", ")
		}
		switch {
		case tg.d == nil:
			sb.WriteString("no version of " + tg.uri + " yet")
		case tg.alias != "":
			sb.WriteString(tg.d.prov.Version + " (" + tg.alias + ")")
		default:
			sb.WriteString(tg.d.prov.Version)
		}
	}
	return sb.String()
}

// index maps u in [0,1) to the target whose share of the cumulative weights
// holds it. Targets keep their order, so when one boundary moves (10% →
// 25%) only the keys between its old and new place change target.
func (r *route) index(u float64) int {
	x := u * r.total
	i := sort.Search(len(r.cum), func(i int) bool { return r.cum[i] > x })
	if i >= len(r.targets) {
		i = len(r.targets) - 1
	}
	return i
}

// unit hashes a cohort key, salted with the route name so that routes split
// independently, to a number in [0,1). FNV-1a 64: stable across processes,
// releases and replicas, unlike hash/maphash.
func (r *route) unit(key []byte) float64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, b := range r.salt {
		h = (h ^ uint64(b)) * prime
	}
	h = (h ^ 0xff) * prime // separator
	for _, b := range key {
		h = (h ^ uint64(b)) * prime
	}
	// Finalise (splitmix64) so that short keys spread over the whole range.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

// cumulative returns the running sums of the targets' weights.
func cumulative(ts []target) ([]float64, float64) {
	cum := make([]float64, len(ts))
	total := 0.0
	for i := range ts {
		total += ts[i].weight
		cum[i] = total
	}
	return cum, total
}
