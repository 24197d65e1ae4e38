using ResourceApi;

var builder = WebApplication.CreateBuilder(args);
builder.AddResourceApi();

var app = builder.Build();
app.MapResourceApi();
app.Run();
