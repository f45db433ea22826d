package loadtest

import "math"

// zTwoSided returns z such that P(|Z| <= z) = confidence for a standard
// normal Z.
func zTwoSided(confidence float64) float64 {
	return math.Sqrt2 * math.Erfinv(confidence)
}

// chiSquareSF returns P(X >= x) for X chi-square distributed with df
// degrees of freedom (the goodness-of-fit p-value).
func chiSquareSF(x float64, df int) float64 {
	if df <= 0 {
		return 1
	}
	if x <= 0 {
		return 1
	}
	return gammaQ(float64(df)/2, x/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x), by the
// series for P when x < a+1 and by Lentz's continued fraction otherwise.
func gammaQ(a, x float64) float64 {
	const (
		maxIter = 1000
		eps     = 1e-15
		tiny    = 1e-300
	)
	lg, _ := math.Lgamma(a)
	prefix := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		sum := 1 / a
		term := sum
		for n := 1; n < maxIter; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*eps {
				break
			}
		}
		return clamp01(1 - sum*prefix)
	}
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return clamp01(prefix * h)
}

func clamp01(v float64) float64 {
	switch {
	case v < 0 || math.IsNaN(v):
		return 0
	case v > 1:
		return 1
	}
	return v
}
