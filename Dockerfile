# syntax=docker/dockerfile:1
# Multi-stage build: the SDK image restores (locked) and publishes; the runtime is Microsoft's chiseled
# ASP.NET image: no shell, no package manager, and a non-root user (app, UID 1654) by default.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source
ENV CI=true DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
COPY global.json nuget.config Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/OAuthServer/OAuthServer.csproj src/OAuthServer/packages.lock.json src/OAuthServer/
RUN dotnet restore src/OAuthServer/OAuthServer.csproj --locked-mode
COPY src/ src/
RUN dotnet publish src/OAuthServer/OAuthServer.csproj -c Release --no-restore -o /app \
 && mkdir -p /app/data

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled AS runtime
WORKDIR /app
COPY --from=build --chown=1654:1654 /app ./
USER 1654
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
EXPOSE 8080
# The image has no curl: the server binary probes its own readiness endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["dotnet", "OAuthServer.dll", "healthcheck", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["dotnet", "OAuthServer.dll"]
