# syntax=docker/dockerfile:1
#
# Vigil in a container: one static binary on distroless, running as a
# non-root user, with its data in the /data volume.
#
#   docker build -t vigil --build-arg VERSION=$(git describe --tags) --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -p 9595:9595 -v vigil-data:/data vigil [--retention=90d ...]
#
# Arguments after the image name are flags of `vigil run`. For the other
# subcommands, replace the entrypoint:
#   docker run --rm --entrypoint /usr/bin/vigil -v $PWD:/cfg vigil check config /cfg/vigil.yml

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
# CGO_ENABLED=0: a static binary; VictoriaMetrics falls back to its
# pure-Go zstd.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/vigil-monitoring/vigil/appliance.Version=${VERSION} -X github.com/vigil-monitoring/vigil/appliance.Revision=${REVISION}" \
      -o /out/vigil ./cmd/vigil \
 && mkdir /out/data

# distroless/static has CA certificates, time zone data and the nonroot
# user (65532), and nothing else.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/vigil /usr/bin/vigil
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 9595
VOLUME /data
ENTRYPOINT ["/usr/bin/vigil", "--data-dir=/data", "--listen=:9595"]
