package onnxgen

import "math/rand/v2"

// rng draws the fixtures' weights and inputs. It uses only PCG's Uint64,
// whose sequence the PCG algorithm fixes for a given seed, and does its own
// float and integer conversions, so a Go release that changes math/rand/v2's
// helper methods cannot change the fixtures.
type rng struct {
	pcg *rand.PCG
}

// newRNG returns a generator for one fixture; seed picks the fixture's
// stream.
func newRNG(seed uint64) *rng {
	return &rng{pcg: rand.NewPCG(seed, 0x6d6c67617465)}
}

// uniform returns a value in [lo, hi) with 53 random bits. The explicit
// conversion keeps the compiler from fusing the multiply and add into an
// FMA, which some architectures would round differently.
func (r *rng) uniform(lo, hi float64) float64 {
	u := float64(r.pcg.Uint64()>>11) / (1 << 53)
	return lo + float64((hi-lo)*u)
}

// float32s returns n values uniform in [lo, hi), rounded to float32.
func (r *rng) float32s(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.uniform(lo, hi))
	}
	return v
}

// grid returns a value k/den with k uniform in [-lim·den, lim·den]: exact in
// float32 and short in JSON.
func (r *rng) grid(lim, den int) float64 {
	span := uint64(2*lim*den + 1)
	k := int64(r.pcg.Uint64()%span) - int64(lim*den)
	return float64(k) / float64(den)
}
