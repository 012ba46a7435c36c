# syntax=docker/dockerfile:1
# Fusebox app: a static binary on a distroless base, run as a non-root user.
#   docker build -t fusebox .
#   docker run -p 8080:8080 fusebox        # the embedded demo on :8080

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/fusebox ./cmd/app \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fusebox /usr/local/bin/fusebox
# The durable store lives in /data; mount a volume there to keep it.
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fusebox"]
# The app listens on loopback by default; in a container it must listen on
# every interface.
CMD ["--addr", "0.0.0.0:8080", "--data-dir", "/data"]
