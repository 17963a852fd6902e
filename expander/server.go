package expander

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/archfit/archfit/expander/protos"
)

// MaxMessageSize is what the server accepts and sends: CA sends whole Pods
// and Nodes and itself accepts responses up to 128 MiB.
const MaxMessageSize = 128 << 20

// service adapts a Decider to the generated gRPC interface.
type service struct {
	protos.UnimplementedExpanderServer
	decider Decider
}

func (s *service) BestOptions(ctx context.Context, req *protos.BestOptionsRequest) (*protos.BestOptionsResponse, error) {
	d, err := s.decider.Decide(ctx, req)
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &protos.BestOptionsResponse{Options: d.Options}, nil
}

// Register adds the expander and the standard health service to a gRPC
// server. The method handler is our own rather than the generated one so
// that bytes that are not a BestOptionsRequest get InvalidArgument (gRPC
// itself would answer Internal) and are counted like every other call.
func Register(srv *grpc.Server, d Decider, m *Metrics) *health.Server {
	svc := &service{decider: d}
	desc := protos.Expander_ServiceDesc
	desc.Methods = []grpc.MethodDesc{{
		MethodName: "BestOptions",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			start := time.Now()
			in := new(protos.BestOptionsRequest)
			if err := dec(in); err != nil {
				err = status.Errorf(codes.InvalidArgument, "malformed BestOptionsRequest: %v", status.Convert(err).Message())
				m.observeCall(start, err)
				return nil, err
			}
			resp, err := svc.BestOptions(ctx, in)
			m.observeCall(start, err)
			return resp, err
		},
	}}
	srv.RegisterService(&desc, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(protos.Expander_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return hs
}

// ServerOptions are the options the expander's gRPC server needs besides
// its credentials.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize)}
}
