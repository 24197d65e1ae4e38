using SpaClient;

var builder = WebApplication.CreateBuilder(args);
builder.AddSpaHost();

var app = builder.Build();
app.MapSpaHost();
app.Run();
