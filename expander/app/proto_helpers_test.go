package app

import (
	"google.golang.org/protobuf/proto"

	"github.com/archfit/archfit/expander/protos"
)

func protoMarshal(req *protos.BestOptionsRequest) ([]byte, error) { return proto.Marshal(req) }
