%% Usage: escript core-plugins.escript PLUGINS_DIR CORE_DIR
%%
%% Debian's RabbitMQ ships ~70 applications in its plugins directory, and the
%% broker reads every module attribute of every application it can load while
%% it boots. This links into CORE_DIR only the applications the broker itself
%% needs: `rabbit` and, transitively, what its .app file lists (applications,
%% included and optional applications) that lives in PLUGINS_DIR. Pointing
%% RABBITMQ_PLUGINS_DIR at CORE_DIR then saves about a second of every boot.
-mode(compile).

main([PluginsDir, CoreDir]) ->
    Dirs = [D || D <- filelib:wildcard(filename:join(PluginsDir, "*")), filelib:is_dir(D)],
    ByName = maps:from_list([{app_name(D), D} || D <- Dirs]),
    maps:is_key(rabbit, ByName) orelse fail("no rabbit application in " ++ PluginsDir),
    Needed = closure([rabbit], ByName, #{}),
    ok = filelib:ensure_dir(filename:join(CoreDir, "x")),
    lists:foreach(
        fun(Dir) ->
            ok = file:make_symlink(Dir, filename:join(CoreDir, filename:basename(Dir)))
        end,
        lists:sort(maps:values(Needed))),
    io:format("~s: ~b of ~b applications~n", [CoreDir, map_size(Needed), length(Dirs)]);
main(_) ->
    io:format(standard_error, "usage: core-plugins.escript PLUGINS_DIR CORE_DIR~n", []),
    halt(2).

fail(Message) ->
    io:format(standard_error, "core-plugins.escript: ~s~n", [Message]),
    halt(1).

%% "rabbit_common-3.10.8" -> rabbit_common
app_name(Dir) ->
    Base = filename:basename(Dir),
    Parts = string:split(Base, "-", trailing),
    list_to_atom(hd(Parts)).

closure([], _ByName, Found) ->
    Found;
closure([App | Rest], ByName, Found) ->
    case {maps:is_key(App, Found), maps:find(App, ByName)} of
        {false, {ok, Dir}} ->
            closure(dependencies(App, Dir) ++ Rest, ByName, Found#{App => Dir});
        _ ->
            %% already taken, or an Erlang/OTP application (not in the plugins directory)
            closure(Rest, ByName, Found)
    end.

dependencies(App, Dir) ->
    AppFile = filename:join([Dir, "ebin", atom_to_list(App) ++ ".app"]),
    {ok, [{application, App, Properties}]} = file:consult(AppFile),
    lists:append([proplists:get_value(Key, Properties, [])
                  || Key <- [applications, included_applications, optional_applications]]).
