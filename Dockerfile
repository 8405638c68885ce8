# The gateway's container image: built with the .NET SDK, run on the chiseled ASP.NET Core runtime (no shell, no
# package manager, non-root). Build from the repository root:
#   docker build -t gateway:dev .
# Liveness and readiness are Kubernetes probes on the management port (/healthz, /readyz), so the image has no
# HEALTHCHECK: a chiseled image has no shell or curl to run one, and Kubernetes ignores it anyway.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the files restore reads, so the package layer is reused until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Gateway/Gateway.csproj src/Gateway/
RUN dotnet restore src/Gateway/Gateway.csproj

# .editorconfig takes part in the build: TreatWarningsAsErrors and EnforceCodeStyleInBuild read it.
COPY .editorconfig ./
COPY src/Gateway/ src/Gateway/
RUN dotnet publish src/Gateway/Gateway.csproj -c Release --no-restore -o /app -p:UseAppHost=false


FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled AS runtime

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="WebSocket long-connection gateway (Kestrel + YARP) on .NET 10" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled"

# The gateway binds its own listeners from Gateway:Server (0.0.0.0:8080 public, 0.0.0.0:8081 management, see
# appsettings.json). The base image's ASPNETCORE_HTTP_PORTS=8080 would only make Kestrel log "Overriding
# address(es)" at every start, so it is cleared.
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS=

# Garbage collector: workstation GC with background (concurrent) collections. Measured in docs/benchmarks.md, "GC
# settings for the container image": of server GC with and without DATAS and workstation GC with and without
# background collections, this held idle sessions cheapest (up to 7 KB less per session over HTTP/2 backends), and
# its cost does not grow with the node's core count. A pod limited to 1 CPU gets workstation GC anyway. Override
# per deployment with the Helm chart's container env (e.g. DOTNET_gcServer=1 for a pod with several cores that
# relays heavy traffic); Gateway.csproj writes the same defaults into runtimeconfig.json for `dotnet run`.
ENV DOTNET_gcServer=0 \
    DOTNET_gcConcurrent=1

# Thread pool: worker threads block at once instead of spinning ~70 times for work that rarely comes; a gateway's
# threads mostly wake for one small frame. Measured in docs/benchmarks.md, "Thread-pool spinning": gateway CPU per
# message at 2,000 echoes/s 30 % lower (3 runs each), +0.05 ms on the median round trip, no change at 10,000/s.
ENV DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0

WORKDIR /app
COPY --from=build /app ./

EXPOSE 8080 8081
# The chiseled image already runs as the non-root "app" user; said here so the image does not depend on it.
USER $APP_UID
ENTRYPOINT ["dotnet", "Gateway.dll"]
