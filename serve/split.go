package serve

import (
	"math/rand/v2"
	"sort"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
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

// pick chooses the target that serves this request: the override header
// if allowed and present, else the sticky key's hash, else a random draw,
// in each case by weight.
func (r *route) pick(ctx *fasthttp.RequestCtx, f signature.Format, key *[]byte) (*target, error) {
	if !r.noOverride {
		if a := ctx.Request.Header.PeekBytes(overrideHeader); len(a) > 0 {
			for i := range r.targets {
				if r.targets[i].alias == string(a) {
					return &r.targets[i], nil
				}
			}
			return nil, errorf(fasthttp.StatusBadRequest, codeInvalidParameterValue,
				"route %s: %s %q names no target; the route's aliases are %s", r.name, OverrideHeader, a, r.aliasList)
		}
	}
	if len(r.targets) == 1 {
		return &r.targets[0], nil
	}
	u := -1.0
	switch {
	case len(r.stickyHeader) > 0:
		if k := ctx.Request.Header.PeekBytes(r.stickyHeader); len(k) > 0 {
			u = r.unit(k)
		}
	case r.stickyColumn != "":
		if k, ok := signature.StickyKey((*key)[:0], f, ctx.PostBody(), r.stickyColumn); ok {
			*key = k
			u = r.unit(k)
		}
	}
	if u < 0 {
		u = rand.Float64()
	}
	return &r.targets[r.index(u)], nil
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
