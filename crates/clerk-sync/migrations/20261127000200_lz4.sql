-- Payloads are 2-3 KB of JSON, just over the TOAST threshold, so each is compressed on write.
-- lz4 costs a fraction of the default pglz's CPU for that. It needs PostgreSQL 14 built with lz4;
-- anywhere else this does nothing.
do $$
declare
    target record;
begin
    if current_setting('server_version_num')::int < 140000 then
        return;
    end if;
    for target in
        select table_schema, table_name, column_name from information_schema.columns
        where table_schema = 'clerk' and data_type = 'jsonb'
    loop
        begin
            execute format('alter table %I.%I alter column %I set compression lz4',
                           target.table_schema, target.table_name, target.column_name);
        exception when feature_not_supported or invalid_parameter_value then
            return;
        end;
    end loop;
end
$$;
