using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.IntegrationTests.Endpoints;

/// <summary>
/// Our endpoint inference (issue 15: its absolute endpoint URIs worked out once per base URI) decides every request
/// exactly as OpenIddict's own, with the server's real endpoint configuration: the rate limits, the input checks and
/// every endpoint's handlers hang on that decision, so a spelling one treats as the token endpoint and the other not
/// would be a way around them.
/// </summary>
public sealed class EndpointInferenceTests
{
    [Fact]
    public async Task Every_spelling_of_every_endpoint_under_every_base_gets_OpenIddicts_answer()
    {
        await using var node = new SqliteOAuthServerFactory();
        await node.InitializeAsync();
        var options = node.Services.GetRequiredService<IOptionsMonitor<OpenIddictServerOptions>>().CurrentValue;
        options.Handlers.Should().Contain(descriptor => descriptor.ServiceDescriptor.ServiceType == typeof(EndpointInferenceHandler))
            .And.NotContain(descriptor => descriptor.ServiceDescriptor.ServiceType == typeof(OpenIddictServerHandlers.InferEndpointType),
                "the server infers endpoints with ours only");

        var paths = new[]
        {
            options.AuthorizationEndpointUris, options.ConfigurationEndpointUris, options.DeviceAuthorizationEndpointUris,
            options.EndSessionEndpointUris, options.EndUserVerificationEndpointUris, options.IntrospectionEndpointUris,
            options.JsonWebKeySetEndpointUris, options.PushedAuthorizationEndpointUris, options.RevocationEndpointUris,
            options.TokenEndpointUris, options.UserInfoEndpointUris,
        }.SelectMany(uris => uris).Select(uri => uri.OriginalString.TrimStart('/')).Distinct().ToList();
        paths.Should().HaveCountGreaterThan(8);

        string[] bases = ["https://login.example.test/", "https://login.example.test", "http://LOGIN.Example.test:8080/",
            "https://login.example.test/auth/", "https://login.example.test/auth", "https://127.0.0.2/", "https://login.example.test/a%20b/"];
        var theirs = new OpenIddictServerHandlers.InferEndpointType();
        var ours = new EndpointInferenceHandler();
        var matched = new HashSet<OpenIddictServerEndpointType>();
        var compared = 0;
        foreach (var baseText in bases)
        {
            var baseUri = new Uri(baseText);
            var directory = baseText.EndsWith('/') ? baseText : baseText + "/";
            foreach (var path in paths.Concat(["connect/tokens", "connect", "", "account/login", "connect/token/extra"]))
            {
                foreach (var spelling in Spellings(path))
                {
                    foreach (var request in new[] { directory + spelling, "https://other.example.test/" + spelling, "https://login.example.test/" + spelling })
                    {
                        if (!Uri.TryCreate(request, UriKind.Absolute, out var requestUri))
                        {
                            continue;
                        }

                        var expected = await InferAsync(theirs, options, baseUri, requestUri);
                        var actual = await InferAsync(ours, options, baseUri, requestUri);
                        actual.Should().Be(expected, "base {0}, request {1}", baseUri, requestUri);
                        matched.Add(actual);
                        compared++;
                    }
                }
            }
        }

        compared.Should().BeGreaterThan(1000);
        matched.Should().HaveCountGreaterThan(8, "the comparison covers matches of nearly every endpoint, not only misses");

        // Asked twice about each base, ours answers from what it kept, and still the same.
        var again = await InferAsync(ours, options, new Uri("https://login.example.test/"), new Uri("https://login.example.test/CONNECT/TOKEN/"));
        again.Should().Be(OpenIddictServerEndpointType.Token);
    }

    [Fact]
    public async Task Invented_hosts_beyond_the_kept_bases_are_answered_afresh_and_the_same()
    {
        await using var node = new SqliteOAuthServerFactory();
        await node.InitializeAsync();
        var options = node.Services.GetRequiredService<IOptionsMonitor<OpenIddictServerOptions>>().CurrentValue;
        var theirs = new OpenIddictServerHandlers.InferEndpointType();
        var ours = new EndpointInferenceHandler();
        for (var host = 0; host < EndpointInferenceHandler.MaxBases * 3; host++)
        {
            var baseUri = new Uri($"https://h{host}.example.test/");
            foreach (var path in new[] { "connect/token", "connect/token/", "Connect/Introspect", "nothing" })
            {
                var requestUri = new Uri(baseUri, path);
                (await InferAsync(ours, options, baseUri, requestUri)).Should().Be(await InferAsync(theirs, options, baseUri, requestUri));
            }
        }
    }

    // The variations an attacker tries on a path: case, trailing slashes, doubled slashes, percent-encoding, dot
    // segments, a path under or beside it.
    private static IEnumerable<string> Spellings(string path) =>
    [
        path, path + "/", path + "//", path.ToUpperInvariant(), path.ToUpperInvariant() + "/", "/" + path, path.Replace("/", "//", StringComparison.Ordinal),
        path.Replace("/", "%2F", StringComparison.Ordinal), path.Replace("t", "%74", StringComparison.Ordinal), "./" + path, "x/../" + path,
        path + "/.", path + "%20", path + ";x", path + "?a=b", path + "#f",
    ];

    private static async Task<OpenIddictServerEndpointType> InferAsync(IOpenIddictServerHandler<ProcessRequestContext> handler, OpenIddictServerOptions options, Uri baseUri, Uri requestUri)
    {
        var context = new ProcessRequestContext(new OpenIddictServerTransaction
        {
            Options = options, Logger = NullLogger.Instance, BaseUri = baseUri, RequestUri = requestUri,
        });
        await handler.HandleAsync(context);
        return context.EndpointType;
    }
}
