package serve

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/mlgate/mlgate/serve/oip"
)

// The Open Inference Protocol over gRPC (inference.GRPCInferenceService)
// on its own listener, with grpc.health.v1 beside it following readiness,
// and server reflection (the services' public schema) for clients such as
// grpcurl. The main listener's TLS material applies (client
// certificates included) and its scoring tokens, as "authorization:
// Bearer <token>" metadata on ModelInfer and ModelMetadata. Errors are
// gRPC statuses whose code stands for the HTTP status classify decides.

// inferenceService is the protocol's gRPC service name, as the health
// service reports it too.
const inferenceService = "inference.GRPCInferenceService"

// newGRPC builds the gRPC server: limits as the main listener's (message
// size as MaxBodyBytes, handshake within ReadHeaderTimeout, idle
// connections closed after IdleTimeout), TLS when configured, tokens. Calls
// run on stream workers, which keep the stack a call grows (decode,
// batching, ONNX Runtime) for the next; a call finding every worker busy
// (waiting on the model) gets a goroutine of its own.
func (s *Server) newGRPC() *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxBodyBytes),
		grpc.ConnectionTimeout(s.cfg.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.cfg.IdleTimeout}),
		grpc.UnaryInterceptor(s.grpcAuth),
		grpc.NumStreamWorkers(uint32(max(64, 16*runtime.GOMAXPROCS(0)))),
	}
	if s.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls.grpcConfig())))
	}
	g := grpc.NewServer(opts...)
	oip.RegisterGRPCInferenceServiceServer(g, &grpcService{s: s})
	healthpb.RegisterHealthServer(g, s.healthSrv)
	reflection.Register(g)
	return g
}

// ServeGRPC accepts gRPC connections on ln (from Listen) until Shutdown,
// with the main listener's connection limits, and returns nil after a
// Shutdown.
func (s *Server) ServeGRPC(ln net.Listener) error {
	l := newListener(ln, listenerConfig{name: "grpc", maxConns: s.cfg.MaxConns, maxConnsPerIP: s.cfg.MaxConnsPerIP, log: s.cfg.Logger})
	err := s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// reportHealth sets grpc.health.v1's status, for the server ("") and the
// inference service, from readiness.
func (s *Server) reportHealth() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if s.Ready() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.healthSrv.SetServingStatus("", st)
	s.healthSrv.SetServingStatus(inferenceService, st)
}

func newHealthServer() *health.Server { return health.NewServer() }

// grpcAuth requires a scoring token on ModelInfer and ModelMetadata when
// AuthTokensFile is set.
func (s *Server) grpcAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case oip.GRPCInferenceService_ModelInfer_FullMethodName, oip.GRPCInferenceService_ModelMetadata_FullMethodName:
		if ts := s.scoringTokens(); ts != nil {
			var auth []byte
			if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
				auth = []byte(v[0])
			}
			if !ts.valid(auth) {
				err := errNoToken
				if len(auth) > 0 {
					err = errBadToken
				}
				return nil, grpcError(err, "")
			}
		}
	}
	return handler(ctx, req)
}

// grpcError turns err into the gRPC status standing for the HTTP status
// classify decides, with its message.
func grpcError(err error, tag string) error {
	st, _, msg := classify(err, tag)
	return status.Error(grpcCode(st), msg)
}

// grpcCode maps an HTTP status to the gRPC code that stands for it.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case fasthttp.StatusBadRequest, fasthttp.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case fasthttp.StatusUnauthorized:
		return codes.Unauthenticated
	case fasthttp.StatusForbidden:
		return codes.PermissionDenied
	case fasthttp.StatusNotFound:
		return codes.NotFound
	case fasthttp.StatusMethodNotAllowed:
		return codes.Unimplemented
	case fasthttp.StatusConflict:
		return codes.AlreadyExists
	case fasthttp.StatusRequestEntityTooLarge, fasthttp.StatusTooManyRequests:
		return codes.ResourceExhausted
	case fasthttp.StatusServiceUnavailable:
		return codes.Unavailable
	case fasthttp.StatusGatewayTimeout, fasthttp.StatusRequestTimeout:
		return codes.DeadlineExceeded
	}
	if httpStatus >= 200 && httpStatus < 300 {
		return codes.OK
	}
	return codes.Internal
}

// grpcService implements the protocol's service on a Server.
type grpcService struct {
	oip.UnimplementedGRPCInferenceServiceServer
	s *Server
}

var _ oip.GRPCInferenceServiceServer = (*grpcService)(nil)

func (g *grpcService) ServerLive(context.Context, *oip.ServerLiveRequest) (*oip.ServerLiveResponse, error) {
	return &oip.ServerLiveResponse{Live: true}, nil
}

func (g *grpcService) ServerReady(context.Context, *oip.ServerReadyRequest) (*oip.ServerReadyResponse, error) {
	return &oip.ServerReadyResponse{Ready: g.s.Ready()}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *oip.ServerMetadataRequest) (*oip.ServerMetadataResponse, error) {
	return &oip.ServerMetadataResponse{Name: "mlgate", Version: g.s.cfg.Version, Extensions: InferExtensions}, nil
}

// ModelReady reports whether the route's targets with traffic, or the
// target serving the version asked for, are loaded; an unknown model or
// version is NotFound.
func (g *grpcService) ModelReady(ctx context.Context, req *oip.ModelReadyRequest) (*oip.ModelReadyResponse, error) {
	snap := g.s.acquire()
	if snap != nil {
		defer snap.release()
	}
	r, err := snap.routeNamed([]byte(req.Name))
	if err != nil {
		return nil, grpcError(err, "")
	}
	ready := !g.s.draining.Load()
	if req.Version == "" {
		return &oip.ModelReadyResponse{Ready: ready && r.ready()}, nil
	}
	tg, err := r.serving([]byte(req.Version))
	if err != nil {
		return nil, grpcError(err, "")
	}
	return &oip.ModelReadyResponse{Ready: ready && tg.d != nil}, nil
}

// ModelMetadata describes the model as its REST endpoint does, with the
// target's provenance as response metadata.
func (g *grpcService) ModelMetadata(ctx context.Context, req *oip.ModelMetadataRequest) (*oip.ModelMetadataResponse, error) {
	snap := g.s.acquire()
	if snap != nil {
		defer snap.release()
	}
	r, err := snap.routeNamed([]byte(req.Name))
	if err != nil {
		return nil, grpcError(err, "")
	}
	tg := r.metaTarget
	if req.Version != "" {
		if tg, err = r.serving([]byte(req.Version)); err != nil {
			return nil, grpcError(err, "")
		}
	}
	if tg == nil || tg.metadata == nil {
		return nil, grpcError(errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"model %s: no version is loaded yet", r.name), "")
	}
	_ = grpc.SetHeader(ctx, tg.grpcHeader)
	md := tg.metadata
	resp := &oip.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		resp.Inputs = append(resp.Inputs, &oip.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		resp.Outputs = append(resp.Outputs, &oip.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return resp, nil
}

// grpcHeaderOf returns the provenance headers of d as gRPC response
// metadata: the same names, lower-cased.
func grpcHeaderOf(d *deployment) metadata.MD {
	md := metadata.MD{}
	for _, h := range d.headers {
		md[strings.ToLower(string(h.key))] = []string{string(h.value)}
	}
	return md
}

// prepareGRPC renders, when a Snapshot is compiled, the gRPC response
// metadata of every route (x-route) and of each of its targets with a
// deployment (x-route and the provenance), so that a call sets its header
// metadata once.
func (snap *Snapshot) prepareGRPC() {
	for _, r := range snap.routes {
		r.grpcHeader = metadata.Pairs(strings.ToLower(HeaderRoute), r.name)
		for i := range r.targets {
			if tg := &r.targets[i]; tg.d != nil {
				tg.grpcHeader = metadata.Join(r.grpcHeader, grpcHeaderOf(tg.d))
			}
		}
	}
}
