namespace OAuthServer.Benchmarks;

/// <summary>
/// One refresh chain per worker against one server: each chain starts with a real sign-in of that worker's own
/// account, made before and outside any measured window, and then every operation is one rotation.
/// </summary>
internal sealed class RefreshChains(string server, int workers, Func<string, CancellationToken, Task<string?>> signIn, ProtocolClient client)
{
    private readonly string?[] _chains = new string?[workers];

    public async Task EstablishAsync(int parallelism)
    {
        var missing = Enumerable.Range(0, _chains.Length).Where(worker => _chains[worker] is null).ToList();
        if (missing.Count > 0)
        {
            ServerUnderTest.Log($"signing in {missing.Count} refresh chain(s) on {server}");
            await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (worker, token) =>
                _chains[worker] = await signIn(ServerUnderTest.UserEmail(worker + 1), token));
        }
    }

    /// <summary>The measured operation (a <see cref="LoadRunner.Operation"/>).</summary>
    public async Task<bool> RefreshAsync(int worker, CancellationToken cancellationToken)
    {
        // A chain that broke (an error) starts again with a new sign-in, outside the measurement of that operation.
        _chains[worker] ??= await signIn(ServerUnderTest.UserEmail(worker + 1), cancellationToken);
        var next = _chains[worker] is { } current ? await client.RefreshAsync(current, cancellationToken) : null;
        _chains[worker] = next;
        return next is not null;
    }
}
