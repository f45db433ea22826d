package serve

import (
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// tokenBucket allows rate events per second on average and up to burst at
// once. It is safe for concurrent use.
type tokenBucket struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now func() time.Time) *tokenBucket {
	if now == nil {
		now = time.Now
	}
	return &tokenBucket{rate: rate, burst: float64(burst), now: now, tokens: float64(burst), last: now()}
}

// take spends a token if there is one. Otherwise it returns how long until
// the next one.
func (b *tokenBucket) take() (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// POST /admin/refresh makes a registry call per model URI; it is allowed
// refreshRate times a second on average, refreshBurst at once.
const (
	refreshRate  = 1
	refreshBurst = 3
)

// tooManyRefreshes answers a refresh over the limit: 429 with Retry-After
// in whole seconds.
func tooManyRefreshes(ctx *fasthttp.RequestCtx, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	writeError(ctx, errorf(fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
		"/admin/refresh: at most %d refreshes at once and %d a second; retry in %ds", refreshBurst, refreshRate, max(secs, 1)), "")
}
